"""Simulated chatapp users for bench/load.py (locust, headless).

Each simulated user acts as one of the seeded accounts (LOAD_USERS: a JSON
file of {"user_id", "token", "conversations"}) and, with think time between
actions, opens one of its conversations, lists its conversations, sends a
chat turn into a conversation (a plain question or one MCP tool call), or
lists its tasks. Requests are named by route, so locust reports per endpoint.
"""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

ACCOUNTS = json.loads(open(os.environ["LOAD_USERS"]).read())
NEXT_ACCOUNT = itertools.count()
MESSAGES = ("hello there", "what's left?", "add buy milk")


class ChatUser(FastHttpUser):
    wait_time = between(5, 15)
    connection_timeout = 30.0
    network_timeout = 60.0

    def on_start(self) -> None:
        account = ACCOUNTS[next(NEXT_ACCOUNT) % len(ACCOUNTS)]
        self.user_id = account["user_id"]
        self.conversations = account["conversations"]
        self.auth = {"Authorization": f"Bearer {account['token']}"}

    @task(3)
    def open_conversation(self) -> None:
        conversation = random.choice(self.conversations)
        self.client.get(f"/api/{self.user_id}/conversations/{conversation}", headers=self.auth,
                        name="GET /api/[user]/conversations/[id]")

    @task(2)
    def list_conversations(self) -> None:
        self.client.get(f"/api/{self.user_id}/conversations", headers=self.auth, name="GET /api/[user]/conversations")

    @task(2)
    def chat(self) -> None:
        body = {"message": random.choice(MESSAGES), "conversation_id": random.choice(self.conversations)}
        with self.client.post(f"/api/{self.user_id}/chat", json=body, headers=self.auth, name="POST /api/[user]/chat",
                              catch_response=True) as response:
            # A request that timed out or lost its connection has status 0 and no body.
            text = response.text or ""
            if response.status_code == 200 and '"status":"success"' in text.replace(" ", ""):
                response.success()
            else:
                response.failure(f"{response.status_code}: {text[:200] or response.error}")

    @task(1)
    def list_tasks(self) -> None:
        self.client.get(f"/api/{self.user_id}/tasks", headers=self.auth, name="GET /api/[user]/tasks")
