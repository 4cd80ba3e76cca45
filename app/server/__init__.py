"""The HTTP API (``main.py serve``): the reviewed server's v1 routes on Meshsmith's engine.

Another front end like the command line: FastAPI and uvicorn, no Qt. It talks to an engine
through ``app.server.backend`` (its own, the studio's in the same process, or the running
studio's over the local socket) and keeps its users, sign-in tokens and uploads in the data
directory's SQLite file (``app.server.store``).
"""
