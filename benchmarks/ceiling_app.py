"""The framework ceiling: a bare Flask endpoint answering 204, served with the same gunicorn
settings as the add-on, so webhook throughput is read as a share of what Flask + gunicorn can do
on this machine at all."""

from flask import Flask

app = Flask(__name__)


@app.post("/webhooks/<category>")
def accept(category):
    return "", 204
