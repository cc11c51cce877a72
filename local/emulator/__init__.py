"""The emulator core: it runs template.yaml on this machine. `template.py` reads the template,
`aws.py` (moto, `moto_server.py`) and `dynamodb_local.py` hold its resources, `functions.py` and
`worker.py` run its functions as Lambda does, `api.py` serves its routes, `event_sources.py` polls
its streams and queues, `processes.py` starts and stops what runs beside this process. Nothing
here knows the demo, the terminal or the merchant's side (local/demo/)."""
