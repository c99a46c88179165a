"""What the tests and the benchmarks share: real servers started for them,
never mocks of them, and the helpers that talk to the app under test.

- `paths`: the repository and where tests leave logs and screenshots.
- `ports`: a free TCP port, and waiting until something listens on one.
- `pg_cluster`, `redis_server`: a throwaway PostgreSQL cluster and Redis.
- `servers`: the API in a thread, or as `make api` in its own processes.
- `ui_app`: the whole Reflex app (`reflex run --env prod`) for the browser.
- `fake_openai`: a scripted OpenAI-compatible provider over real HTTP.
- `api`: accounts, chat requests, the error shape and stored rows.
- `streams`: a streamed turn read in a thread, so a test can act mid-reply.
- `mcp_client`: the task tools through the official `mcp` client.
- `metrics`: reading `/metrics`.
- `browser`: Chromium, its fixtures, and what a person does on the page.

Test modules import from here, never from each other (tests/test_suite_layout.py
checks it), and `bench/` may import from here too.
"""
