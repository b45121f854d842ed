"""A burst on the channel layer, in one process: the project's Pub/Sub layer against channels-redis'
own `RedisPubSubChannelLayer` on the same Redis, in the same run.

- publish: N group_send calls at once (as N sockets sending a chat message together); wall time
  and this process's CPU time for the whole burst.
- join then hear: N channels each join a group new to the process, and right after each
  group_add() returns another layer instance (another connection, as another process would)
  sends one message there; how many of the N arrive.

Run it in a baked project's environment, on Redis:

    REDIS_URL=redis://127.0.0.1:6379/0 uv run python TEMPLATE/bench/layer_burst.py [--burst N]

Keys and channels are under a prefix of the run's own; Pub/Sub stores nothing.
"""

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

# Wait this long for a message before counting it lost.
DEADLINE_SECONDS = 3.0


def setup_django(project: Path):
    sys.path.insert(0, str(project))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_ENV_FILE", "")
    os.environ.setdefault("DJANGO_DEBUG", "on")
    import django

    django.setup()


def layers(prefix: str):
    from channels_redis.pubsub import RedisPubSubChannelLayer
    from django.conf import settings

    from realtime.layers import BacklogPubSubChannelLayer

    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    return {
        "channels-redis RedisPubSubChannelLayer": lambda: RedisPubSubChannelLayer(
            hosts=hosts, prefix=prefix
        ),
        "project BacklogPubSubChannelLayer": lambda: BacklogPubSubChannelLayer(
            hosts=hosts, prefix=prefix
        ),
    }


async def publish_burst(layer, burst: int) -> tuple[float, float]:
    """(wall ms, CPU ms) of `burst` group_send calls at once."""
    message = {"type": "chat.message", "message": "x" * 50}
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(layer.group_send(f"burst-{i}", message) for i in range(burst)))
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


async def join_then_hear(members, senders, burst: int) -> int:
    """How many of `burst` messages sent right after their group_add() returned were lost."""
    run = secrets.token_hex(4)

    async def one(number):
        channel = await members.new_channel()
        group = f"joined-{run}-{number}"
        await members.group_add(group, channel)
        await senders.group_send(group, {"type": "chat.message", "number": number})
        try:
            async with asyncio.timeout(DEADLINE_SECONDS):
                await members.receive(channel)
        except TimeoutError:
            return 1
        return 0

    return sum(await asyncio.gather(*(one(number) for number in range(burst))))


async def main(burst: int, rounds: int) -> None:
    prefix = f"bench-burst-{secrets.token_hex(4)}"
    results = {}
    for name, make in layers(prefix).items():
        layer, members, senders = make(), make(), make()
        await layer.group_send("warm-up", {"type": "x"})
        samples = [await publish_burst(layer, burst) for _ in range(rounds)]
        lost = [await join_then_hear(members, senders, burst) for _ in range(rounds)]
        for each in (layer, members, senders):
            await each.flush()
        results[name] = (
            statistics.median(wall for wall, _ in samples),
            statistics.median(cpu for _, cpu in samples),
            sum(lost),
        )
    print(f"{burst} at once, median of {rounds} rounds")
    print(f"{'layer':42} {'publish wall ms':>16} {'publish CPU ms':>15} {'lost after join':>16}")
    for name, (wall, cpu, lost) in results.items():
        print(f"{name:42} {wall:16.1f} {cpu:15.1f} {lost:>9} of {burst * rounds}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the baked project")
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        parser.error("set REDIS_URL: this measures the channel layer on Redis")
    setup_django(options.project)
    asyncio.run(main(options.burst, options.rounds))
