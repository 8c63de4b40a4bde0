# An SDK extension whose RESPONSE hook has a bug: it raises KeyError on every response.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../sdk/python"))
from extension_runner import Extension  # noqa: E402

ext = Extension()


@ext.on_response
def response(event, ctx):
    return event.replace(event.payload["missing"])


ext.run()
