"""The validator on every event and the redactor on every response, in one extension."""
from extension_runner import Extension
from redactor import redact
from validator import validate

ext = Extension()
ext.on_request(validate)
ext.on_response(redact)
ext.run()
