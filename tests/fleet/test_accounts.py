"""Accounts: ``[accounts.NAME]`` tables, :class:`Accounts`, ``bulkup upload --account``.

Uploads run the real ``bulkup`` command against an emulator with two users of one app;
the budgets run on the suite's Redis (``redis_server``), never a fake.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bulkup.auth.credentials import BearerAuth, OAuth1Auth
from bulkup.cli.settings import Settings, resolve
from bulkup.client.budget_url import BudgetServer
from bulkup.client.shared_budget import SharedPacer, app_of
from bulkup.emulator import DEMO_USER, Emulator, EmulatorConfig, Lifetimes
from bulkup.emulator.config import User
from bulkup.errors import ConfigError, RateCapped
from bulkup.fleet.accounts import Accounts, UnknownAccount
from bulkup.media import samples
from bulkup.testing.redis_server import RedisServer
from tests.cli.test_cli_upload import bulkup, upload_args
from tests.conftest import KiB, file_sha256

pytestmark = pytest.mark.anyio

#: A second user of the demo app (same consumer key): another account of one app.
OTHER_USER = dataclasses.replace(
    DEMO_USER,
    id="1000000000000000002",
    screen_name="bulkup_other",
    access_token="1000000000000000002-otheraccesstoken",
    access_token_secret="other-access-token-secret",
    bearer_tokens=(),
)


def oauth1_table(user: User) -> str:
    return (
        f'api_key = "{user.consumer_key}"\napi_secret = "{user.consumer_secret}"\n'
        f'access_token = "{user.access_token}"\n'
        f'access_token_secret = "{user.access_token_secret}"\n'
    )


def config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "bulkup.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


TWO_ACCOUNTS = (
    '[auth]\nbearer_token = { env = "MAIN_TOKEN" }\n\n'
    f"[accounts.brand]\n{oauth1_table(DEMO_USER)}\n[accounts.other-1]\n{oauth1_table(OTHER_USER)}"
)


def accounts_of(settings: Settings, **kw: Any) -> Accounts:
    environ = kw.pop("environ", {"MAIN_TOKEN": "main-token"})
    return Accounts(
        settings.auth, settings.accounts, config_file=settings.config_file, environ=environ, **kw
    )


def test_each_account_uploads_with_its_own_table_and_none_with_the_runs_own(
    tmp_path: Path,
) -> None:
    settings = resolve(environ={}, config_file=config(tmp_path, TWO_ACCOUNTS))
    accounts = accounts_of(settings)
    brand, other, own = (accounts.auth_for(n) for n in ("brand", "other-1", None))
    assert isinstance(brand, OAuth1Auth) and isinstance(other, OAuth1Auth)
    assert brand.credentials.token == DEMO_USER.access_token
    assert other.credentials.token == OTHER_USER.access_token
    assert isinstance(own, BearerAuth) and own.token == "main-token"
    assert len({brand.account, other.account, own.account}) == 3
    assert accounts.auth_for("brand") is brand  # one per account and process
    assert accounts.names == ("brand", "other-1")


def test_an_unknown_account_names_itself_and_the_config_file_to_add_it_to(
    tmp_path: Path,
) -> None:
    path = config(tmp_path, TWO_ACCOUNTS)
    accounts = accounts_of(resolve(environ={}, config_file=path))
    with pytest.raises(UnknownAccount) as caught:
        accounts.auth_for("sales")
    message = str(caught.value)
    assert f"no account 'sales' in {path} (it has brand, other-1)" in message
    assert "add an [accounts.sales] table" in message and "same keys as [auth]" in message


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('[accounts.b]\nbearer = "x"\n', "[accounts.b]: unknown key 'bearer'; [accounts.b] takes"),
        ('[accounts."a b"]\nbearer_token = "x"\n', "an account name is 1 to 64 letters"),
        ("[accounts]\nb = 3\n", "accounts.b must be a table: [accounts.b] with the keys of"),
        ('[accounts.b]\napi_key = { envv = "K" }\n', "[accounts.b] api_key: give the secret as"),
    ],
)
def test_an_accounts_table_is_checked_like_auth(tmp_path: Path, table: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(environ={}, config_file=config(tmp_path, table))
    assert says in str(caught.value)


def test_an_accounts_missing_parts_are_named_with_the_fix_and_the_environment_is_no_stand_in(
    tmp_path: Path,
) -> None:
    text = '[accounts.b]\napi_key = { env = "B_KEY" }\n[accounts.c]\ntoken_file = "t.json"\n'
    settings = resolve(environ={}, config_file=config(tmp_path, text))
    environ = {"B_KEY": "k", "X_BEARER_TOKEN": "the-runs-own"}  # not b's: b names its own
    with pytest.raises(ConfigError, match=r"\[accounts.b\] has api_key but not api_secret, "):
        accounts_of(settings, environ=environ).auth_for("b")
    with pytest.raises(ConfigError, match=r"\[accounts.c\] renews OAuth 2.0 tokens but lacks "):
        accounts_of(settings, environ=environ).auth_for("c")


def test_inline_secrets_of_an_account_in_a_readable_config_file_are_refused(
    tmp_path: Path,
) -> None:
    path = config(tmp_path, TWO_ACCOUNTS, mode=0o644)
    with pytest.raises(ConfigError) as caught:
        resolve(environ={}, config_file=path)
    assert "accounts.brand.api_key" in str(caught.value) and f"chmod 600 {path}" in str(
        caught.value
    )


async def test_config_show_masks_every_accounts_secrets(tmp_path: Path) -> None:
    text = TWO_ACCOUNTS + '\n[fleet]\ntoken_key = "gAAAA-not-shown"\n'
    path = config(tmp_path, text)
    env = {"PATH": "/usr/bin:/bin", "MAIN_TOKEN": "main-token"}
    shown = await bulkup("config", "show", "--config", path, env=env)
    as_json = await bulkup("config", "show", "--json", "--config", path, env=env)

    assert shown.code == as_json.code == 0, shown.err + as_json.err
    secrets = [DEMO_USER.consumer_secret, OTHER_USER.access_token, OTHER_USER.access_token_secret]
    for out in (shown.out, as_json.out):
        assert not [s for s in [*secrets, "gAAAA-not-shown", DEMO_USER.consumer_key] if s in out]
    assert "[accounts.other-1]\n# credentials: kind: OAuth 1.0a\n" in shown.out
    assert 'access_token_secret = "***"' in shown.out and 'token_key = "***"' in shown.out
    tables = json.loads(as_json.out)["settings"]
    assert tables["accounts"]["brand"]["api_secret"] == '"***"'
    assert tables["accounts"]["brand"]["credentials"]["account"].startswith("oauth1:")


async def test_a_worker_sharing_oauth2_tokens_needs_the_token_key(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    text = (
        '[accounts.b]\nclient_id = "c"\ntoken_url = "http://127.0.0.1:1/token"\n'
        'bearer_token = { env = "B_TOKEN" }\nrefresh_token = { env = "B_REFRESH" }\n'
    )
    settings = resolve(environ={}, config_file=config(tmp_path, text))
    db = aioredis.from_url(redis_server.url)
    try:
        environ = {"B_TOKEN": "t", "B_REFRESH": "r"}
        with pytest.raises(ConfigError, match="bulkup auth fleet-key"):
            accounts_of(settings, environ=environ, redis=db).auth_for("b")
        environ["BULKUP_TOKEN_KEY"] = "short"
        with pytest.raises(ConfigError, match=r"\$BULKUP_TOKEN_KEY is not a Fernet key"):
            accounts_of(settings, environ=environ, redis=db).auth_for("b")
    finally:
        await db.aclose()


# --- budgets: per account and per app ----------------------------------------------------
@pytest.fixture
async def pacers(redis_server: RedisServer) -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as stack:

        async def make(**kw: Any) -> SharedPacer:
            pacer = SharedPacer(BudgetServer.from_url(redis_server.url), **kw)
            return await stack.enter_async_context(pacer.connected())

        yield make


def answer(window_left: int, app_left: int, reset: float) -> dict[str, str]:
    return {
        "x-rate-limit-limit": "500",
        "x-rate-limit-remaining": str(window_left),
        "x-rate-limit-reset": str(int(reset)),
        "x-app-limit-24hour-limit": "50000",
        "x-app-limit-24hour-remaining": str(app_left),
        "x-app-limit-24hour-reset": str(int(reset + 86_000)),
    }


async def test_two_accounts_of_one_app_get_their_own_windows_and_one_app_cap(
    tmp_path: Path, pacers: Callable[..., Any]
) -> None:
    accounts = accounts_of(resolve(environ={}, config_file=config(tmp_path, TWO_ACCOUNTS)))
    brand, other = accounts.auth_for("brand"), accounts.auth_for("other-1")
    assert app_of(brand) == app_of(other) and brand.account != other.account
    first = await pacers(account=brand.account, app=app_of(brand), max_wait=60)
    second = await pacers(account=other.account, app=app_of(other), max_wait=60)
    now = time.time()
    async with first.slot("upload") as held:  # brand spends its 15-minute window
        first.observe(held, answer(window_left=0, app_left=10, reset=now + 600))
    with pytest.raises(RateCapped, match="15-minute limit"):
        async with first.slot("upload"):
            pass
    async with second.slot("upload") as held:  # the other account's window is its own
        second.observe(held, answer(window_left=400, app_left=0, reset=now + 600))
    for pacer in (first, second):  # and the app's last request was spent by either
        with pytest.raises(RateCapped, match="24-hour app limit of upload is spent"):
            async with pacer.slot("upload"):
                pass


# --- bulkup upload --account ----------------------------------------------------------------
@pytest.fixture
async def two_users() -> AsyncIterator[Emulator]:
    emulator_config = EmulatorConfig(
        lifetimes=Lifetimes(processing_secs=0, check_after_secs=0), users=(DEMO_USER, OTHER_USER)
    )
    async with Emulator(emulator_config, environ={}) as emulator:
        yield emulator


async def test_upload_with_account_sends_its_items_as_it_and_fails_another_accounts_unsent(
    two_users: Emulator, tmp_path: Path
) -> None:
    files = [
        samples.write_image(tmp_path / f"p{i}.png", target_bytes=8 * KiB, seed=i) for i in range(3)
    ]
    lines = [
        {"path": files[0].name, "id": "mine", "account": "other-1"},
        {"path": files[1].name, "id": "unnamed"},
        {"path": files[2].name, "id": "brands", "account": "brand"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    path = config(tmp_path, TWO_ACCOUNTS)
    env = {"PATH": "/usr/bin:/bin"}

    run = await bulkup(
        *upload_args(two_users, manifest), "--account", "other-1", "--config", path, env=env
    )

    by_id = {line["id"]: line for line in run.lines()}
    assert run.code == 1, run.err
    for item_id, file in (("mine", files[0]), ("unnamed", files[1])):
        line = by_id[item_id]
        assert line["status"] == "succeeded", line
        media = two_users.media(line["media_id_string"]) or {}
        assert media["owner"] == OTHER_USER.id and media["sha256"] == file_sha256(file)
    assert by_id["mine"]["account"] == "other-1" and "account" not in by_id["unnamed"]
    brands = by_id["brands"]
    assert brands["status"] == "failed" and brands["account"] == "brand"
    assert brands["error"]["kind"] == "other_account"
    assert (
        "account 'brand' is uploaded by `bulkup worker`, or run `bulkup upload --account brand`"
        in brands["error"]["message"]
    )
    assert len(two_users.all_media()) == 2  # nothing was sent for brand's item


async def test_upload_with_an_unknown_account_stops_before_sending_anything(
    two_users: Emulator, tmp_path: Path
) -> None:
    image = samples.write_image(tmp_path / "p.png", target_bytes=8 * KiB, seed=1)
    path = config(tmp_path, TWO_ACCOUNTS)
    run = await bulkup(
        *upload_args(two_users, image),
        "--account",
        "sales",
        "--config",
        path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert run.code == 2 and run.out == ""
    assert f"bulkup upload: no account 'sales' in {path}" in run.err
    assert two_users.all_media() == []


async def test_a_dry_run_names_each_items_account_and_fails_another_accounts(
    tmp_path: Path,
) -> None:
    image = samples.write_image(tmp_path / "p.png", target_bytes=8 * KiB, seed=1)
    lines = [
        {"path": image.name, "id": "mine", "account": "other-1"},
        {"path": image.name, "id": "brands", "account": "brand"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    args = [
        "--dry-run",
        "--json",
        "--account",
        "other-1",
        "--config",
        config(tmp_path, TWO_ACCOUNTS),
    ]

    run = await bulkup("upload", manifest, *args, env={"PATH": "/usr/bin:/bin"})

    by_id = {line.get("id"): line for line in run.lines()}
    assert by_id["mine"]["status"] == "planned" and by_id["mine"]["account"] == "other-1"
    assert by_id["brands"]["status"] == "failed" and by_id["brands"]["account"] == "brand"
    assert "`bulkup upload --account brand`" in by_id["brands"]["error"]["message"]
