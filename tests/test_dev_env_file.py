"""The development .env that the hook writes holds the secret key: only its owner may read it."""

import stat


def test_dev_env_file_is_readable_by_its_owner_only(project):
    mode = stat.S_IMODE((project / ".env").stat().st_mode)

    assert mode == 0o600, oct(mode)
