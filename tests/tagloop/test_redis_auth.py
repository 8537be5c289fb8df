"""Redis's password: generated once into the data dir, shared by every process, or set."""

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from tagloop.redis_auth import authenticated_url, ensure_password, write_server_config
from tagloop.settings import CommonSettings


def settings(data_dir: Path, **values: object) -> CommonSettings:
    return CommonSettings(data_dir=data_dir, _env_file=None, **values)  # type: ignore[call-arg]


def test_password_is_generated_once_private_and_shared(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        passwords = set(pool.map(lambda _: ensure_password(tmp_path), range(16)))
    [password] = passwords
    assert len(password) >= 32
    path = tmp_path / "redis" / "password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["password"], "no temporary files left"


def test_clients_connect_with_the_generated_password(tmp_path: Path) -> None:
    url = authenticated_url(settings(tmp_path, redis_url="redis://127.0.0.1:6389/0"))
    assert url == f"redis://:{ensure_password(tmp_path)}@127.0.0.1:6389/0"


def test_setting_wins_and_empty_means_none(tmp_path: Path) -> None:
    set_one = settings(tmp_path, redis_url="redis://h:1/0", redis_password="p@ss/word")
    assert authenticated_url(set_one) == "redis://:p%40ss%2Fword@h:1/0"
    assert (
        authenticated_url(settings(tmp_path, redis_url="redis://h:1/0", redis_password="")) == "redis://h:1/0"
    )
    assert not (tmp_path / "redis" / "password").exists()


def test_server_config_holds_the_password_for_redis_server(tmp_path: Path) -> None:
    conf = write_server_config(settings(tmp_path, redis_password='we"ird\\pw'))
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert conf.read_text() == 'requirepass "we\\"ird\\\\pw"\n'


def test_the_tests_redis_refuses_clients_without_the_password(redis_server: str) -> None:
    address = redis_server.split("@", 1)[1]
    with (
        redis.Redis.from_url(f"redis://{address}/0", socket_timeout=5) as anonymous,
        pytest.raises(redis.AuthenticationError),
    ):
        anonymous.ping()
