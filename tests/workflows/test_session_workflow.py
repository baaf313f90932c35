"""``SessionWorkflow``'s failure branches, with fake activities under the real declarations (STYLE.md §10).

Each runs the real workflow code on the real Temporal dev server; only the activities are scripted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from dma.catalog.catalog import MAX_CHAIN
from tests.stack import TemporalDevServer
from tests.workflows.fakes import DONE, Fakes, calls_tools, eventually, mcp_uses, running, start_session, uses
from workflows import session_tools
from workflows.contracts import (
    INTERRUPTED_ON_BUS,
    MAX_MODEL_CHAIN,
    Answer,
    BeginRunReply,
    Delivery,
    FinishTurnRequest,
    ModelStepReply,
    ModelStepRequest,
    ProvisionRequest,
    Shutdown,
    ToolUseRef,
)
from workflows.session import SessionWorkflow, model_retry


@pytest.fixture
async def temporal(temporal_server: TemporalDevServer) -> AsyncIterator[Client]:
    yield await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)


def finishes(fakes: Fakes) -> list[FinishTurnRequest]:
    return fakes.called("finish_turn")


async def test_a_message_sent_as_a_run_continues_as_new_is_answered_in_the_next_run(temporal: Client) -> None:
    """The message arrives while the run's last step runs: the task that continues as new fails (a signal came in),
    runs again with that message taken into the finished turn, and replays the step, which never saw it.

    Before steps named what they had not seen, the message was dropped: the workflow held it as processed.
    """
    fakes = Fakes()
    step = fakes.model_step

    async def send_during_the_second_turn(request: ModelStepRequest) -> ModelStepReply:
        reply = await step(request)
        if request.mark_processed == ["m2"]:
            await temporal.get_workflow_handle(request.session_id).signal("deliver", Delivery(message_ids=["m3"]))
        return reply

    fakes.model_step = send_during_the_second_turn  # pyright: ignore[reportAttributeAccessIssue]
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]), turns_per_run=2)
        await eventually(lambda: len(fakes.called("model_step")) == 1)
        await handle.signal(SessionWorkflow.deliver, Delivery(message_ids=["m2"]))
        await eventually(lambda: any(r.mark_processed == ["m3"] for r in fakes.called("model_step")))
        taken = [r.mark_processed for r in fakes.called("model_step")]
        assert taken == [["m1"], ["m2"], ["m2", "m3"], ["m3"]], "the replayed step gave m3 back to the queue"
        assert fakes.run_ids[-1] != fakes.run_ids[0], "m3 went into the next run"


async def test_provision_failure_answers_the_calls_and_the_turn_goes_on(temporal: Client) -> None:
    def refuse(_: ProvisionRequest) -> object:
        raise ApplicationError("no bubblewrap here", type="sandbox_unavailable", non_retryable=True)

    fakes = Fakes(replies=[calls_tools(uses("bash")), DONE, DONE])
    fakes.provision = refuse  # pyright: ignore[reportAttributeAccessIssue]
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.called("model_step")) == 2)
        recorded = fakes.called("record_tool_results")
        assert [r.reason for r in recorded] == ["sandbox_unavailable"]
        assert "no bubblewrap here" in (recorded[0].message or "")
        await handle.signal(SessionWorkflow.deliver, Delivery(message_ids=["m2"]))
        await eventually(lambda: len(fakes.called("model_step")) == 3)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_host_lost_and_no_replacement_ends_the_calls_not_the_workflow(
    temporal: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_tools, "SANDBOX_SCHEDULE_TO_START", timedelta(seconds=1))
    provisions = 0

    def first_only(request: ProvisionRequest) -> object:
        nonlocal provisions
        provisions += 1
        if provisions > 1:
            raise ApplicationError("every host is gone", type="sandbox_unavailable", non_retryable=True)
        from workflows.contracts import SandboxHandle

        return SandboxHandle(
            session_id=request.spec.session_id, host="gone", task_queue="nobody-polls-this", backend="bwrap"
        )

    fakes = Fakes(replies=[calls_tools(uses("bash", "write")), DONE])
    fakes.provision = first_only  # pyright: ignore[reportAttributeAccessIssue]
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.called("model_step")) == 2, timeout=30)
        recorded = fakes.called("record_tool_results")
        assert [r.reason for r in recorded] == ["sandbox_unavailable", "sandbox_unavailable"]
        assert "no new sandbox could be provisioned" in (recorded[0].message or "")
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_non_retryable_model_error_ends_the_turn_and_the_session_lives(temporal: Client) -> None:
    bad = ApplicationError("model said 400", type="invalid_request_error", non_retryable=True)
    fakes = Fakes(replies=[bad, DONE])
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: bool(finishes(fakes)))
        finish = finishes(fakes)[0]
        assert (finish.stop_reason, finish.error_type) == ("retries_exhausted", "invalid_request_error")
        assert "m1" in finish.processed_ids
        await handle.signal(SessionWorkflow.deliver, Delivery(message_ids=["m2"]))
        await eventually(lambda: len(fakes.called("model_step")) == 2)
        assert len(fakes.called("model_step")) == 2, "no retry of a non-retryable error"


async def test_interrupt_during_a_tool_batch_closes_running_and_later_calls(temporal: Client) -> None:
    batch = uses("bash", "bash", "read")
    fakes = Fakes(replies=[calls_tools(batch)], tool_seconds={"bash": 30})
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: bool(fakes.tool_runs))
        await handle.signal(SessionWorkflow.deliver, Delivery(interrupt_ids=["i1"]))
        await eventually(lambda: bool(finishes(fakes)))
        finish = finishes(fakes)[0]
        assert finish.stop_reason == "end_turn" and "i1" in finish.processed_ids
        assert finish.close_tool_use_ids == [use.event_id for use in batch]
        assert [run.event_id for run in fakes.tool_runs] == [batch[0].event_id], "later calls never started"
        assert fakes.tool_runs[0].cancelled


async def test_interrupt_of_the_first_model_request_marks_its_batch_processed(temporal: Client) -> None:
    """A batch the model never answered belongs to the interrupted turn; left queued, it blocked delete forever."""
    fakes = Fakes(model_seconds=30)
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: bool(fakes.called("model_step")))
        await handle.signal(SessionWorkflow.deliver, Delivery(interrupt_ids=["i1"]))
        await eventually(lambda: bool(finishes(fakes)))
    finish = finishes(fakes)[0]
    assert finish.stop_reason == "end_turn"
    assert {"m1", "i1"} <= set(finish.processed_ids)


async def test_a_step_cut_short_on_the_bus_waits_for_the_interrupts_signal(temporal: Client) -> None:
    """The step hears the interrupt on the bus; its reply may come in a workflow task before the signal's."""
    fakes = Fakes(replies=[ModelStepReply(stop_reason=INTERRUPTED_ON_BUS)])
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: bool(fakes.called("model_step")))
        await asyncio.sleep(1.0)  # the reply is in; the workflow waits, and starts no other request meanwhile
        assert len(fakes.called("model_step")) == 1 and not finishes(fakes)
        await handle.signal(SessionWorkflow.deliver, Delivery(interrupt_ids=["i1"]))
        await eventually(lambda: bool(finishes(fakes)))
    finish = finishes(fakes)[0]
    assert finish.stop_reason == "end_turn" and {"m1", "i1"} <= set(finish.processed_ids)
    assert len(fakes.called("model_step")) == 1


async def test_calls_run_in_the_models_order_and_reads_side_by_side(temporal: Client) -> None:
    batch = uses("read", "glob", "bash", "grep")
    fakes = Fakes(replies=[calls_tools(batch), DONE], tool_seconds={"read": 1.0, "glob": 1.0, "bash": 0.5})
    async with running(temporal, fakes) as queue:
        await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.called("model_step")) == 2)
    read, glob, bash, grep = fakes.tool_runs
    assert {read.name, glob.name} == {"read", "glob"} and (bash.name, grep.name) == ("bash", "grep")
    assert max(read.started, glob.started) < min(read.ended, glob.ended), "the two reads overlapped"
    assert bash.started >= max(read.ended, glob.ended), "bash waited for the reads before it"
    assert grep.started >= bash.ended, "the read after bash waited for it"
    order = [use.event_id for use in batch]
    assert all(call.order == order for call in fakes.called("run_tool"))


async def test_a_new_run_after_terminate_reconciles_and_resumes_a_blocked_turn(temporal: Client) -> None:
    first = Fakes(replies=[DONE])
    async with running(temporal, first) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: bool(first.called("model_step")))
        await handle.terminate("operator")
    asked = ToolUseRef(event_id="use-asked", name="bash", permission="ask")
    second = Fakes(replies=[DONE, DONE], begin=BeginRunReply(queued_messages=["m2"], blocking=[asked]))
    async with running(temporal, second) as queue:
        handle = await start_session(
            temporal, queue, Delivery(message_ids=["m3"]), reconcile=True, session_id=handle.id
        )
        await eventually(lambda: bool(second.called("begin_run")))
        assert second.log[0][0] == "begin_run", "the new run reconciles before anything else"
        await until_details(handle, "waiting for people: use-asked")
        assert not second.called("model_step"), "a blocked turn waits for its answer, not for the model"
        answer = Answer(event_id="c1", tool_use_id="use-asked", allow=True)
        await handle.signal(SessionWorkflow.deliver, Delivery(answers=[answer]))
        await eventually(lambda: len(second.called("model_step")) == 2)
    names = [name for name, _ in second.log]
    assert names.index("resume_turn") < names.index("run_tool") < names.index("model_step")
    assert [run.event_id for run in second.tool_runs] == ["use-asked"]
    resumed, queued = second.called("model_step")
    assert resumed.mark_processed == [] and queued.mark_processed == ["m2", "m3"]
    assert set(second.run_ids).isdisjoint(first.run_ids), "a new run writes under its own run id"
    assert resumed.step > 0


async def current_details(handle: WorkflowHandle[SessionWorkflow, None]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def until_details(handle: WorkflowHandle[SessionWorkflow, None], text: str, timeout: float = 20) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        details = await current_details(handle)
        if text in details:
            return details
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"current details never said {text!r}: {details!r}")
        await asyncio.sleep(0.05)


async def test_activities_and_the_workflow_are_readable_in_the_ui(temporal: Client) -> None:
    batch = [ToolUseRef(event_id="use-1", name="bash", permission="allow", preview="ls -la /workspace")]
    fakes = Fakes(replies=[calls_tools(batch), DONE])
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.called("model_step")) == 2)
        details = await until_details(handle, "waiting for a message")
        described = await handle.describe()
        history = await handle.fetch_history()
    # The model step is a local activity: its summary is on its marker, the other activities' on their schedule.
    summaries = [
        event.user_metadata.summary
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        or (event.HasField("marker_recorded_event_attributes") and event.user_metadata.HasField("summary"))
    ]
    texts = [pydantic_data_converter.payload_converter.from_payload(s, str) for s in summaries]
    assert any(text.startswith("model fake · turn 1 · step") for text in texts), texts
    assert any(text == "bash: ls -la /workspace · fake-host" for text in texts), texts
    assert any(text.startswith("provision the sandbox") for text in texts), texts
    assert await described.static_summary() == "fake agent · a title"
    assert details.startswith("**idle** · turn 1 · step ") and "sandbox: bwrap on fake-host" in details


PAUSED = ModelStepReply(stop_reason="budget_reached", paused=True)


async def test_a_turn_paused_at_the_budget_waits_for_a_raise_then_goes_on(temporal: Client) -> None:
    fakes = Fakes(replies=[calls_tools(uses("bash")), PAUSED, DONE])
    async with running(temporal, fakes) as queue:
        # A raise delivered before the pause is stale: the request after it already saw the new budget.
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"], budget_changed=True))
        await eventually(lambda: len(fakes.called("model_step")) == 2)
        await until_details(handle, "waiting for a budget raise")
        assert (await handle.query(SessionWorkflow.status)) == "idle"
        await asyncio.sleep(0.5)
        assert len(fakes.called("model_step")) == 2, "a paused turn waits, holding nothing"
        await handle.signal(SessionWorkflow.deliver, Delivery(budget_changed=True))
        await eventually(lambda: len(fakes.called("model_step")) == 3)
        first, paused, resumed = fakes.called("model_step")
        assert (first.resume, paused.resume, resumed.resume) == (False, False, True)
        assert resumed.mark_processed == [] and resumed.step > paused.step
        assert not finishes(fakes), "the activity ends the paused turn's idle itself; the resumed one ends it too"
        await until_details(handle, "waiting for a message")


async def test_a_new_run_resumes_a_turn_paused_at_the_budget(temporal: Client) -> None:
    fakes = Fakes(replies=[DONE], begin=BeginRunReply(budget_paused=True))
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(budget_changed=True), reconcile=True)
        await eventually(lambda: len(fakes.called("model_step")) == 1)
        assert fakes.called("model_step")[0].resume is True
        assert [name for name, _ in fakes.log][:2] == ["begin_run", "model_step"]
        await until_details(handle, "waiting for a message")


async def test_archiving_a_paused_session_ends_the_workflow(temporal: Client) -> None:
    fakes = Fakes(replies=[PAUSED])
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await until_details(handle, "waiting for a budget raise")
        await handle.signal(SessionWorkflow.shutdown, Shutdown(reason="archived"))
        await handle.result()
    assert len(fakes.called("model_step")) == 1 and not finishes(fakes)


def test_the_workflow_allows_every_model_of_the_longest_chain() -> None:
    assert MAX_MODEL_CHAIN == MAX_CHAIN
    assert model_retry(3).maximum_attempts == 3 * MAX_CHAIN


async def test_mcp_calls_run_on_the_shared_queue_each_in_its_own_round(temporal: Client) -> None:
    calls = uses("read") + mcp_uses("search", "read")
    fakes = Fakes(replies=[calls_tools(calls), DONE], tool_seconds={"search": 0.3})
    async with running(temporal, fakes, host_polled=True) as queue:
        await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.called("model_step")) == 2)
    mcp = fakes.called("run_mcp_tool")
    assert [r.tool_use.name for r in mcp] == ["search", "read"], "an MCP tool named read is still MCP"
    assert all(r.handle is None for r in mcp) and mcp[0].order == [c.event_id for c in calls]
    runs = {run.event_id: run for run in fakes.tool_runs}
    first, second = runs[calls[1].event_id], runs[calls[2].event_id]
    assert first.ended <= second.started, "MCP calls are not read-only: each waits for the one before"


async def test_an_mcp_call_that_fails_for_good_ends_the_turn_and_the_session_goes_on(temporal: Client) -> None:
    broken = ApplicationError("server down", "docs", type="mcp_connection_failed_error", non_retryable=True)
    calls = mcp_uses("search") + uses("bash")
    fakes = Fakes(replies=[calls_tools(calls), DONE], mcp_failures={"search": lambda _attempt: broken})
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(finishes(fakes)) == 1)
        ended = finishes(fakes)[0]
        assert ended.stop_reason == "retries_exhausted" and ended.error_type == "mcp_connection_failed_error"
        assert ended.mcp_server_name == "docs" and ended.close_tool_use_ids == [c.event_id for c in calls]
        assert fakes.called("run_tool") == [], "calls after the failed one do not run"
        await handle.signal(SessionWorkflow.deliver, Delivery(message_ids=["m2"]))
        await eventually(lambda: len(fakes.called("model_step")) == 2)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_an_unreachable_server_is_retried_then_the_call_succeeds(temporal: Client) -> None:
    flaky = ApplicationError("server down", "docs", type="mcp_connection_failed_error")
    fakes = Fakes(
        replies=[calls_tools(mcp_uses("search")), DONE],
        mcp_failures={"search": lambda attempt: flaky if attempt < 3 else None},
    )
    async with running(temporal, fakes) as queue:
        await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: len(fakes.called("model_step")) == 2, timeout=30)
    assert len(fakes.called("run_mcp_tool")) == 3 and finishes(fakes) == []


async def test_interrupt_cancels_a_slow_mcp_call(temporal: Client) -> None:
    calls = mcp_uses("slow") + mcp_uses("search")
    fakes = Fakes(replies=[calls_tools(calls), DONE], tool_seconds={"slow": 30})
    async with running(temporal, fakes) as queue:
        handle = await start_session(temporal, queue, Delivery(message_ids=["m1"]))
        await eventually(lambda: bool(fakes.tool_runs))
        await handle.signal(SessionWorkflow.deliver, Delivery(interrupt_ids=["i1"]))
        await eventually(lambda: len(finishes(fakes)) == 1)
    assert fakes.tool_runs[0].cancelled and fakes.tool_runs[0].ended - fakes.tool_runs[0].started < 10
    ended = finishes(fakes)[0]
    assert ended.stop_reason == "end_turn" and ended.close_tool_use_ids == [c.event_id for c in calls]
