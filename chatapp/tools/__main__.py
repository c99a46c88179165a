"""`python -m chatapp.tools`: the task tools over stdio, acting for the user
whose JWT is in `CHATAPP_TOKEN`."""

from chatapp.config import Settings
from chatapp.db import engine_from
from chatapp.tools.server import create_task_server

if __name__ == "__main__":
    settings = Settings()
    create_task_server(engine_from(settings), settings).run("stdio")
