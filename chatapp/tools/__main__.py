"""`python -m chatapp.tools`: the task tools over stdio, acting for the user
whose JWT is in `CHATAPP_TOKEN`."""

from chatapp.db import get_engine
from chatapp.tools.server import create_task_server

if __name__ == "__main__":
    create_task_server(get_engine()).run("stdio")
