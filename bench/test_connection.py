"""Test connection against a vendor that never answers: how long the admin's web request takes (goal < 1 s:
no web request waits on a vendor), and how long until the page's poll shows the answer the job found.

The "vendor" is a loopback socket that accepts connections and never replies, so every read times out. The
request goes through the real app (signed in as acme's admin, CSRF and all); the job runs on the real worker
code (an RQ ``SimpleWorker`` on the ``interactive`` queue).

    .venv/bin/python bench/test_connection.py [--n 5]
"""

from __future__ import annotations

import argparse
import functools
import html
import re
import socket
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pyotp
from _env import bench_app
from _report import Figure, report
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker

from vectis.demo.seed import DEMO_PASSWORD, demo_totp_secret
from vectis.platform.queues import queue, redis

T = TypeVar("T")
GOAL = 1.0  # seconds
BASE = "http://acme.localhost"
EMAIL = "admin@acme.test"


def _outside_context(call: Callable[[], T]) -> T:
    """Run a test-client call in a thread of its own: the bench holds an app context, and requests made inside
    it would share its ``g`` (and so one CSRF token cache) across requests, which no browser ever does."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _token(client: FlaskClient, path: str) -> str:
    page = client.get(path, base_url=BASE).get_data(as_text=True)
    found = re.search(r'name="csrf[-_]token" (?:value|content)="([^"]+)"', page) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page
    )
    if found is None:
        raise SystemExit(f"no CSRF token on {path}")
    return found.group(1)


def _poll(client: FlaskClient, url: str) -> str:
    return client.get(url, headers={"HX-Request": "true"}, base_url=BASE).get_data(as_text=True)


def _signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.post(
        "/signin",
        data={"email": EMAIL, "password": DEMO_PASSWORD, "csrf_token": _token(client, "/signin")},
        base_url=BASE,
    )
    code = pyotp.TOTP(demo_totp_secret(EMAIL)).now()
    client.post("/signin/mfa", data={"code": code, "csrf_token": _token(client, "/signin/mfa")}, base_url=BASE)
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes the handshakes; nobody ever reads or answers
    site = f"http://127.0.0.1:{silent.getsockname()[1]}"
    with bench_app() as app:
        client = _outside_context(lambda: _signed_in(app))
        token = _outside_context(lambda: _token(client, "/admin/integrations/connectwise"))
        form = {
            "csrf_token": token,
            "site_url": site,
            "company_id": "summitmsp",
            "public_key": "public",
            "private_key": "private",
        }
        requests_s, answers_s, message = [], [], ""
        for _ in range(args.n):
            start = time.perf_counter()
            response = _outside_context(
                lambda: client.post(
                    "/admin/integrations/connectwise/test", data=form, headers={"HX-Request": "true"}, base_url=BASE
                )
            )
            requests_s.append(time.perf_counter() - start)
            page = response.get_data(as_text=True)
            poll = re.search(r'hx-get="([^"]+)"', page)
            if poll is None:
                raise SystemExit(f"the Test button did not start a job: {page[:300]}")
            SimpleWorker([queue("interactive")], connection=redis()).work(burst=True)
            answer = _outside_context(functools.partial(_poll, client, poll.group(1)))
            answers_s.append(time.perf_counter() - start)
            message = html.unescape(re.sub(r"<[^>]+>", " ", answer)).split("Connection", 1)[-1].strip()[:120]
    silent.close()
    median = statistics.median(requests_s)
    print(f"Test connection against a vendor that never answers, {args.n} runs:")
    print(
        f"  web request: median {median * 1000:.0f} ms, max {max(requests_s) * 1000:.0f} ms "
        f"= {median / GOAL:.3f}x the {GOAL:.0f} s goal"
    )
    print(
        f"  answer on the page (job, one attempt, 3 s connect / 5 s read): median {statistics.median(answers_s):.1f} s"
    )
    print(f"  it says: Connection {message}")
    report(
        [
            Figure(
                "test connection: the web request",
                median * 1000,
                "ms",
                GOAL * 1000,
                note=f"max {max(requests_s) * 1000:.0f} ms; the answer shows {statistics.median(answers_s):.1f} s later",
            )
        ]
    )


if __name__ == "__main__":
    main()
