"""The counting child of bench/messages-cost.py: counts the messages it receives."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk", "python"))
from extension_runner import Extension  # noqa: E402

ext = Extension()
count = [0]


@ext.on_messages
def messages(batch, ctx):
    count[0] += len(batch)


@ext.on_shutdown
def shutdown(event, ctx):
    print("messages-child: received %d" % count[0])


ext.run()
