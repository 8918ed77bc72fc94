"""OAuth 2.0 tokens shared by workers through the suite's real Redis, against the emulator.

Each "worker" is its own :class:`OAuth2Auth`, its own Redis connection and its own token
file (as on its own host), uploading through the real :class:`Uploader`. The emulator
rotates refresh tokens (each works once), so two workers refreshing on their own would
log the account out: the tests count the refreshes that reach its token endpoint.
Tokens expire on the emulator's clock, moved forward, never by sleeping.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from bulkup.auth.config import SecretRef
from bulkup.auth.oauth2 import OAuth2Auth, TokenStore
from bulkup.core.items import Result
from bulkup.emulator import Emulator, EmulatorConfig
from bulkup.errors import ConfigError
from bulkup.fleet.keys import Keys
from bulkup.fleet.tokens import SharedTokens, new_key, token_key
from bulkup.testing.redis_server import RedisServer
from tests.auth.test_oauth2 import (
    TOKEN_LIFETIME,
    client_for,
    logged_in,
    oauth2_config,
    photos,
    read_json,
    refresh_by_hand,
    token_requests,
    upload_all,
)

pytestmark = pytest.mark.anyio

ACCOUNT = "brand"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return oauth2_config("http://127.0.0.1:1/callback")


@pytest.fixture
async def dbs(redis_server: RedisServer) -> AsyncIterator[list[aioredis.Redis]]:
    """Six connections to the suite's Redis, one per worker, and one to look with."""
    async with AsyncExitStack() as stack:
        clients = [aioredis.from_url(redis_server.url) for _ in range(6)]
        for client in clients:
            stack.push_async_callback(client.aclose)
        yield clients


def worker(
    emulator: Emulator, login: Path, folder: Path, db: aioredis.Redis, key: bytes, **kw: object
) -> OAuth2Auth:
    """A worker with its own copy of the token file, sharing ``ACCOUNT`` through ``db``."""
    folder.mkdir(parents=True, exist_ok=True)
    own = shutil.copy2(login, folder / "token.json")
    auth = OAuth2Auth(store=TokenStore.file(own), client=client_for(emulator))
    SharedTokens(db, Fernet(key), **kw).share(auth, ACCOUNT)  # type: ignore[arg-type]
    return auth


async def every_value(db: aioredis.Redis) -> list[Any]:
    """Every key and value in Redis, whatever its type, as bytes."""
    found: list[Any] = []
    async for key in db.scan_iter(count=100):
        found.append(key)
        kind = await db.type(key)
        if kind == b"string":
            found.append(await db.get(key))
        elif kind == b"hash":
            found += [part for pair in (await db.hgetall(key)).items() for part in pair]
        else:
            found.append(repr(await db.dump(key)).encode())
    return found


async def test_workers_refreshing_at_once_send_one_refresh_and_share_the_new_tokens(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path, dbs: list[aioredis.Redis]
) -> None:
    login = tmp_path / "login.json"
    before = await logged_in(emulator, http, login)
    key = Fernet.generate_key()
    workers = [worker(emulator, login, tmp_path / f"w{i}", db, key) for i, db in enumerate(dbs[:5])]
    results: dict[int, list[Result]] = {}

    async def run(i: int) -> None:  # every worker's tokens expire mid-upload (401 → refresh)
        files = photos(tmp_path / f"media{i}", 2)
        results[i] = await upload_all(emulator, workers[i], files, advance=TOKEN_LIFETIME / 4)

    async with anyio.create_task_group() as group:
        for i in range(len(workers)):
            group.start_soon(run, i)

    assert all(r.status == "succeeded" for rs in results.values() for r in rs), results
    assert token_requests(emulator) == {"200": 2}  # the login, then one refresh for all five
    new = {w.access_token for w in workers}
    assert len(new) == 1 and before["access_token"] not in new
    for i in range(5):  # each worker's own token file holds the new tokens too
        assert read_json(tmp_path / f"w{i}" / "token.json")["access_token"] in new
    shared = await SharedTokens(dbs[5], Fernet(key)).read(ACCOUNT)
    assert shared is not None and shared["access_token"] in new
    secrets = {before["access_token"], before["refresh_token"], *new, shared["refresh_token"]}
    stored = await every_value(dbs[5])
    assert Keys().token(ACCOUNT).encode() in stored
    assert not [v for v in stored for s in secrets if s.encode() in v]
    status, _ = await refresh_by_hand(emulator, http, shared["refresh_token"])
    assert status == 200  # the shared refresh token is the live one


async def test_a_worker_whose_tokens_were_spent_by_another_takes_the_shared_ones(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path, dbs: list[aioredis.Redis]
) -> None:
    login = tmp_path / "login.json"
    await logged_in(emulator, http, login)
    key = Fernet.generate_key()
    first, late = (worker(emulator, login, tmp_path / n, dbs[i], key) for i, n in enumerate("ab"))
    assert await first.refresh(http, failed_token=first.access_token)
    assert token_requests(emulator) == {"200": 2}

    # the late worker still holds the spent refresh token: it must not use it
    assert await late.refresh(http, failed_token=late.access_token)

    assert token_requests(emulator) == {"200": 2}
    assert late.access_token == first.access_token
    [result] = await upload_all(emulator, late, photos(tmp_path / "m", 1), advance=0)
    assert result.status == "succeeded"


async def test_a_worker_with_another_key_gets_a_clear_error_and_refreshes_nothing(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path, dbs: list[aioredis.Redis]
) -> None:
    login = tmp_path / "login.json"
    await logged_in(emulator, http, login)
    first = worker(emulator, login, tmp_path / "a", dbs[0], Fernet.generate_key())
    other = worker(emulator, login, tmp_path / "b", dbs[1], Fernet.generate_key())
    assert await first.refresh(http, failed_token=first.access_token)

    with pytest.raises(ConfigError) as caught:
        await other.refresh(http, failed_token=other.access_token)

    message = str(caught.value)
    assert "account 'brand'" in message and "cannot be decrypted" in message
    assert "the same key" in message and "bulkup auth fleet-key" in message
    assert token_requests(emulator) == {"200": 2}  # the login and the first worker's refresh
    assert not await dbs[2].exists(Keys().token_lock(ACCOUNT))  # the lock was let go


def test_a_missing_or_malformed_token_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="none is set: make one with `bulkup auth fleet-key`"):
        token_key(None, {})
    with pytest.raises(ConfigError, match=r"\$BULKUP_TOKEN_KEY is not a Fernet key"):
        token_key(None, {"BULKUP_TOKEN_KEY": "not-a-key"})
    unset = SecretRef("token_key", "env", "FLEET_KEY", "fleet")
    with pytest.raises(ConfigError, match=r"\[fleet\] token_key names \$FLEET_KEY, which is not"):
        token_key(unset, {})
    key = new_key()
    assert token_key(unset, {"FLEET_KEY": key}).decrypt(Fernet(key).encrypt(b"x")) == b"x"


async def test_the_lock_is_released_by_its_holder_only_and_lapses_when_the_holder_dies(
    dbs: list[aioredis.Redis],
) -> None:
    key = Fernet.generate_key()
    one = SharedTokens(dbs[0], Fernet(key), lock_ms=300)
    two = SharedTokens(dbs[1], Fernet(key), lock_ms=300)
    held = await one.lock(ACCOUNT)
    await two.unlock(ACCOUNT, "not-the-holder")
    assert await dbs[2].get(Keys().token_lock(ACCOUNT)) == held.encode()
    # the holder "dies" (never unlocks): the other takes the lock once it lapses
    with anyio.fail_after(5):
        taken = await two.lock(ACCOUNT)
    assert taken != held
    await one.unlock(ACCOUNT, held)  # a late release of a lapsed lock frees nothing
    assert await dbs[2].get(Keys().token_lock(ACCOUNT)) == taken.encode()
    await two.unlock(ACCOUNT, taken)
    assert not await dbs[2].exists(Keys().token_lock(ACCOUNT))


#: One worker process: refreshes ``ACCOUNT``'s tokens (as after a 401) and prints the
#: access token it then holds.
WORKER = """
import sys, aiohttp, anyio, redis.asyncio as aioredis
from cryptography.fernet import Fernet
from bulkup.auth.oauth2 import OAuth2Auth, OAuth2Client, TokenStore
from bulkup.fleet.tokens import SharedTokens

async def main(token_file, token_url, client_id, url, key):
    client = OAuth2Client(client_id=client_id, token_url=token_url)
    auth = OAuth2Auth(store=TokenStore.file(token_file), client=client)
    db = aioredis.from_url(url)
    SharedTokens(db, Fernet(key.encode())).share(auth, "brand")
    async with aiohttp.ClientSession() as http:
        await auth.refresh(http, failed_token=auth.access_token)
    await db.aclose()
    print(auth.access_token)

anyio.run(main, *sys.argv[1:])
"""


async def test_two_worker_processes_refreshing_at_once_send_one_refresh(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path, redis_server: RedisServer
) -> None:
    login = tmp_path / "login.json"
    before = await logged_in(emulator, http, login)
    key = new_key()
    files: list[Path] = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        files.append(Path(shutil.copy2(login, tmp_path / name / "token.json")))
    client = client_for(emulator)
    args = [client.token_url, client.client_id, redis_server.url, key]
    done: list[str] = []

    async def run(token_file: Path) -> None:
        command = [sys.executable, "-c", WORKER, str(token_file), *args]
        finished = await anyio.run_process(command, check=False)
        assert finished.returncode == 0, finished.stderr.decode()
        done.append(finished.stdout.decode().strip())

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for token_file in files:
                group.start_soon(run, token_file)

    assert token_requests(emulator) == {"200": 2}  # the login, then one refresh for both
    assert len(set(done)) == 1 and before["access_token"] not in done
    assert all(read_json(Path(f))["access_token"] == done[0] for f in files)
