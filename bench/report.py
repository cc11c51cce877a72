"""docs/BENCHMARKS.md, from the results of the bench's parts (each saved as it ends, with when it
ran and the machine's load then, so a part run on its own updates its sections only)."""

from typing import Any

from bench import costs
from bench.functions import FUNCTIONS
from bench.stack import settings
from bench.trees import MODES

type Part = dict[str, Any]
# The shape of each part's results this report reads: a part saved by an earlier bench, in an older
# shape, is not shown (run it again).
FORMATS = {"functions": 3}
# Ours as deployed (tracing on): what the memory sizes and the costs are modelled on.
DEPLOYED = "traced"


def ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def ratio(ours: float, other: float) -> str:
    return f"{ours / other:.2f}×" if other else "-"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def when(part: Part) -> str:
    load = "/".join(f"{value:.1f}" for value in part["load_before"])
    after = "/".join(f"{value:.1f}" for value in part["load_after"])
    return (f"_Measured over {part['elapsed_s']:.0f} s to {part['measured_at']}; load average (1/5/15 min) {load} "
            f"before, {after} after, on {part['machine']}._")  # fmt: skip


def plus(more: float, less: float) -> str:
    return f"+{ms(more - less)}" if more >= less else f"−{ms(less - more)}"


def calls(made: dict[str, int]) -> str:
    return ", ".join(f"{operation.split(':')[1]} ×{count}" if count > 1 else operation.split(":")[1]
                     for operation, count in sorted(made.items())) or "none"  # fmt: skip


def power(functions: Part) -> dict[str, tuple[list[costs.Size], costs.Size, str]]:
    """Per function: its sizes, the one recommended and why (ours as deployed: as built, traced)."""
    found = {}
    for function in FUNCTIONS:
        cold = functions["cold"]["as built"][function.name][DEPLOYED]
        options = costs.sizes(functions["warm"][function.name][DEPLOYED], cold)
        timeout = float(settings(function.name)["Timeout"])
        found[function.name] = (options, *costs.recommend(function.name, options, cold["maxrss_kb"] / 1024, timeout))
    return found


def functions_sections(part: Part) -> str:
    cold, warm, inspected = part["cold"], part["warm"], part["inspect"]
    sections = []
    for mode in MODES:
        rows = []
        for function in FUNCTIONS:
            ours, bare = cold[mode][function.name]["ours"], cold[mode][function.name]["baseline"]
            total = [side["import_ms"] + side["first_ms"] for side in (ours, bare)]
            rss = f"{ours['maxrss_kb'] / 1024:.0f} / {bare['maxrss_kb'] / 1024:.0f} MiB"
            rows.append([f"{function.name} ({function.request})", ms(ours["import_ms"]), ms(bare["import_ms"]),
                         ms(ours["first_ms"]), ms(bare["first_ms"]), f"**{ms(total[0])}**", ms(total[1]),
                         ratio(*total), rss])  # fmt: skip
        header = ["function (event)", "import", "bare", "first request", "bare", "import + first", "bare", "ratio"]
        sections.append(f"### Cold start, {mode}, tracing off\n\n" + table([*header, "peak RSS"], rows))
    rows = []
    for function in FUNCTIONS:
        sides = inspected[function.name]
        rows.append([function.name, calls(sides["ours"]["import_calls"]), calls(sides["ours"]["first_calls"]),
                     calls(sides["ours"]["warm_calls"]), str(sides["ours"]["modules"]), str(sides["traced"]["modules"]),
                     str(sides["baseline"]["modules"])])  # fmt: skip
    sections.append(
        "### What the import and the first requests ask of AWS, and what is loaded by then\n\nThe same for ours, "
        "traced or not, and the bare baseline (the bench stops if they differ). Modules: those loaded from the "
        "function, its layer and the runtime's packages by the end of the first request (the standard library not "
        "counted).\n\n"
        + table(["function", "AWS requests, import", "first request", "warm", "modules", "traced", "bare"], rows)
    )
    rows = []
    for function in FUNCTIONS:
        ours, bare = warm[function.name]["ours"], warm[function.name]["baseline"]
        rows.append([function.name, ms(ours["cpu_ms"]), ms(bare["cpu_ms"]), ratio(ours["cpu_ms"], bare["cpu_ms"]),
                     ms(ours["ms"]), ms(bare["ms"]), ratio(ours["ms"], bare["ms"]),
                     f"{ours['log_bytes']:,.0f} B"])  # fmt: skip
    header = ["function", "CPU", "bare", "ratio", "wall", "bare", "ratio", "log per invocation"]
    sections.append(
        f"### Warm, per invocation, tracing off (medians of {ours['requests']} per side)\n\n" + table(header, rows)
    )
    sections.append(tracing_section(part))
    return "\n\n".join(sections)


def tracing_section(part: Part) -> str:
    """Ours with tracing on (as deployed) beside ours with tracing off: what the X-Ray SDK costs."""
    rows = []
    for function in FUNCTIONS:
        cold, warm = part["cold"]["as built"][function.name], part["warm"][function.name]
        off, on, bare = (cold[side]["import_ms"] + cold[side]["first_ms"] for side in ("ours", DEPLOYED, "baseline"))
        cpu_off, cpu_on, cpu_bare = (warm[side]["cpu_ms"] for side in ("ours", DEPLOYED, "baseline"))
        modules = part["inspect"][function.name]
        rss = f"{cold['ours']['maxrss_kb'] / 1024:.0f} / {cold[DEPLOYED]['maxrss_kb'] / 1024:.0f} MiB"
        rows.append([function.name, ms(off), f"**{ms(on)}**", plus(on, off), ratio(on, bare),
                     ms(cpu_off), f"**{ms(cpu_on)}**", plus(cpu_on, cpu_off), ratio(cpu_on, cpu_bare),
                     plus(warm[DEPLOYED]["ms"], warm["ours"]["ms"]),
                     f"{modules['ours']['modules']} / {modules[DEPLOYED]['modules']}", rss])  # fmt: skip
    header = ["function", "cold, off", "on", "X-Ray", "on / bare", "warm CPU, off", "on", "X-Ray", "on / bare",
              "X-Ray, warm wall", "modules, off / on", "peak RSS, off / on"]  # fmt: skip
    return (
        "### Tracing on, as deployed: what the X-Ray SDK costs\n\nOurs as the template deploys it (Tracing: "
        "Active), beside ours with tracing off as above: cold starts as built (import + first request), warm "
        "invocations' CPU, and what the X-Ray SDK adds to each; *on / bare* is ours traced against the bare "
        "baseline, which traces nothing. The memory sizes and the costs are modelled on these figures.\n\n"
        + table(header, rows)
    )


def power_section(part: Part) -> str:
    tuned = power(part)
    rows = []
    for function in FUNCTIONS:
        options, chosen, _ = tuned[function.name]
        template = settings(function.name)["MemorySize"]
        for size in options:
            mark = " **←**" if size is chosen else ""
            rows.append([function.name, f"{size.memory_mb} MB" + (" (template)" if size.memory_mb == template else ""),
                         ms(size.cold_ms), ms(size.warm_ms), f"${size.per_million:.2f}{mark}"])  # fmt: skip
    table_ = table(["function", "memory", "cold start (import + first)", "warm", "per million invocations"], rows)
    reasons = "\n".join(
        f"- **{function.name}: {chosen.memory_mb} MB** (template: {settings(function.name)['MemorySize']} MB): {why}."
        for function in FUNCTIONS
        for _, chosen, why in [tuned[function.name]]
    )
    return f"{table_}\n\nWhat the figures point to:\n\n{reasons}"


def cost_section(part: Part) -> str:
    tuned = power(part)
    durations = {name: options for name, (options, _, _) in tuned.items()}
    calls_ = {function.name: part["inspect"][function.name][DEPLOYED]["warm_calls"] for function in FUNCTIONS}
    logs = {function.name: part["warm"][function.name][DEPLOYED]["log_bytes"] for function in FUNCTIONS}
    template = {function.name: int(settings(function.name)["MemorySize"]) for function in FUNCTIONS}
    recommended = {name: chosen.memory_mb for name, (_, chosen, _) in tuned.items()}
    publisher = part["cold"]["as built"]["EventPublisherFunction"][DEPLOYED]
    extra = {"EventPublisherFunction": costs.sizes(part["claim_record"], publisher)}
    priced = [costs.per_million_payments(memory, durations, calls_, logs, part["largest_items"], extra)
              for memory in (template, recommended)]  # fmt: skip
    totals = [{group: sum(line.cost for line in lines) for group, lines in groups.items()} for groups in priced]
    rows = []
    for group, label in (("own", "the payment's own"), ("events", "events and webhooks")):
        for now, then in zip(priced[0][group], priced[1][group], strict=True):
            rows.append([now.what, f"${now.cost:.2f}", f"${then.cost:.2f}"])
        rows.append([f"**subtotal: {label}**", f"**${totals[0][group]:.2f}**", f"**${totals[1][group]:.2f}**"])
    rows.append(["**total**", *(f"**${sum(total.values()):.2f}**" for total in totals)])
    arithmetic = "\n".join(f"- {line.what}: {line.arithmetic} = **${line.cost:.2f}**" for line in priced[0]["events"])
    verdicts = "; ".join(
        f"at the {label}, ${total['events']:.2f}: "
        + ("**met**" if total["events"] <= costs.EVENTS_TARGET else
           f"**not met** (${total['events'] - costs.EVENTS_TARGET:.2f} over)")
        for label, total in (("template's memory", totals[0]), ("recommended memory", totals[1]))
    )  # fmt: skip
    sweep = {label: next(s for s in durations["ReconcileFunction"] if s.memory_mb == memory["ReconcileFunction"])
             for label, memory in (("template", template), ("recommended", recommended))}  # fmt: skip
    monthly = ", ".join(f"${size.per_million * costs.SWEEPS_PER_MONTH / 1e6:.2f} at {size.memory_mb} MB ({label})"
                        for label, size in sweep.items())  # fmt: skip
    sweeps = f"the sweep, once a minute ({costs.SWEEPS_PER_MONTH:,} runs a month): {monthly}"
    return (
        table(["per million payments", "template's memory", "recommended memory"], rows)
        + f"\n\n**Events and webhooks, per million payments**, at the template's memory ({costs.EVENTS_PER_PAYMENT} "
        f"events a payment, each recorded, put on the bus, queued and delivered once):\n\n{arithmetic}\n\n"
        f"Target: at most ${costs.EVENTS_TARGET:.2f} per million payments; {verdicts}.\n\nNot per payment: {sweeps}."
    )


def clients_section(part: Part) -> str:
    ours, sdk = part["clients"]["ours"], part["clients"]["sdk"]
    rate = [f"{ours['rps']:.0f}/s", f"{sdk['rps']:.0f}/s", ratio(ours["rps"], sdk["rps"])]
    cpu = [ms(ours["cpu_ms"]), ms(sdk["cpu_ms"]), ratio(ours["cpu_ms"], sdk["cpu_ms"])]
    return table(["measure", "ours", "etpay-sdk", "ratio"],
                 [["session creations per second", *rate], ["client CPU per creation", *cpu]])  # fmt: skip


def webhooks_section(part: Part) -> str:
    latency = part["webhooks"]
    rows = [[name, ms(latency[f"{name}_ms"])] for name in ("p50", "p99", "mean", "max")]
    return f"{latency['payments']} payments one after another.\n\n" + table(["notification to webhook", ""], rows)
