"""Python's cyclic garbage collector while a function initialises: paused, then told to leave what
initialisation made alone.

Importing botocore, Powertools and our code, and building the clients, makes some 66,000 objects
that live as long as the execution environment. The collector, counting allocations, walks them
about 30 times during the import (some 11 ms on this project's bench machine) and once more in full
soon after, which lands in the first request (another 8 ms). None of it is garbage: reference
counting frees what dies, and only cycles wait for the collector.

So each handler imports this module before anything else: in Lambda (or the local stack, set up as
Lambda) it pauses the collector. `resume`, which `wiring.prepare` calls at the end of
initialisation, moves everything alive into the permanent generation (gc.freeze: later collections
never walk it again) and starts the collector. Outside Lambda (tests, tools) neither does anything.
"""

import gc
import os

_paused = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and gc.isenabled()
if _paused:
    gc.disable()


def resume() -> None:
    """The end of initialisation: freeze what it made and start the collector again, once."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
