#!/bin/sh
# The handler of a web app under the Lambda Web Adapter: its startup script, run by LWA's /opt/bootstrap.
# On Lambda it puts /opt/python (this project's layer) on PYTHONPATH, as LWA's examples do; the emulator's
# PYTHONPATH already has the layers' python/ directory.
exec python -m uvicorn --host 127.0.0.1 --port "$AWS_LWA_PORT" --no-access-log lwa_app:app
