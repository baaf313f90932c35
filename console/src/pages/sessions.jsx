// Sessions: a list with status filters, and a dialog that starts one.
import { useState } from "preact/hooks";
import { Link, useLocation, useSearch } from "wouter-preact";
import { get, listAll, post } from "../api.js";
import { Button, Empty, ErrorBox, Field, Loading, Modal, PageHeader, StatusPill, useLoad } from "../components.jsx";
import { ago, number } from "../format.js";

const FILTERS = [
  ["all", "All"],
  ["running", "Running"],
  ["idle", "Idle"],
  ["rescheduling", "Retrying"],
  ["terminated", "Terminated"],
];

export function SessionsPage() {
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const status = search.get("status") || "all";
  const startFor = search.get("new");
  const [starting, setStarting] = useState(Boolean(startFor));
  const sessions = useLoad(
    (signal) => get("/v1/sessions", { limit: 100, statuses: status === "all" ? undefined : [status] }, signal),
    [status],
  );
  const rows = sessions.data?.data;
  return (
    <section>
      <PageHeader title="Sessions" subtitle="Each session is a durable Temporal workflow; idle ones cost nothing.">
        <Button kind="primary" onClick={() => setStarting(true)}>
          New session
        </Button>
      </PageHeader>
      <div class="filters" role="tablist" aria-label="Status">
        {FILTERS.map(([value, label]) => (
          <Link
            href={value === "all" ? "/sessions" : `/sessions?status=${value}`}
            class={status === value ? "chip active" : "chip"}
            role="tab"
          >
            {label}
          </Link>
        ))}
        <button class="link refresh" onClick={sessions.reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={sessions.error} onRetry={sessions.reload} />
      {rows === undefined && !sessions.error && <Loading />}
      {rows?.length === 0 && (
        <Empty
          title={status === "all" ? "No sessions yet" : `No ${status} sessions`}
          action={
            status === "all" && (
              <Button kind="primary" onClick={() => setStarting(true)}>
                Start a session
              </Button>
            )
          }
        >
          {status === "all"
            ? "A session is a conversation with an agent: messages, tool calls and their results, kept for good."
            : "Try another filter."}
        </Empty>
      )}
      {rows?.length > 0 && (
        <div class="card flush">
          <table class="table">
            <thead>
              <tr>
                <th>Session</th>
                <th>Status</th>
                <th>Agent</th>
                <th class="num">Tokens in / out</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((session) => (
                <tr key={session.id} class="clickable" onClick={() => navigate(`/sessions/${session.id}`)}>
                  <td>
                    <Link href={`/sessions/${session.id}`} class="strong">
                      {session.title || "Untitled session"}
                    </Link>
                    <div class="muted small mono">{session.id}</div>
                  </td>
                  <td>
                    <StatusPill status={session.status} />
                  </td>
                  <td>
                    {session.agent.name} <span class="muted">v{session.agent.version}</span>
                  </td>
                  <td class="num">
                    {number(session.usage?.input_tokens)} / {number(session.usage?.output_tokens)}
                  </td>
                  <td class="muted">{ago(session.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {starting && (
        <NewSession
          agentId={startFor}
          onClose={() => {
            setStarting(false);
            if (startFor) navigate("/sessions", { replace: true });
          }}
          onCreated={(session) => navigate(`/sessions/${session.id}`)}
        />
      )}
    </section>
  );
}

function NewSession({ agentId, onClose, onCreated }) {
  const choices = useLoad(
    (signal) =>
      Promise.all([
        listAll("/v1/agents", { limit: 100 }, 1000, signal),
        listAll("/v1/environments", { limit: 100 }, 1000, signal),
      ]),
    [],
  );
  const [agent, setAgent] = useState(agentId || "");
  const [environment, setEnvironment] = useState("");
  const [title, setTitle] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [agents, environments] = choices.data || [[], []];
  const agentValue = agent || agents[0]?.id || "";
  const environmentValue = environment || environments[0]?.id || "";

  async function create(event) {
    event?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let environmentId = environmentValue;
      if (!environmentId) environmentId = (await post("/v1/environments", { name: "default" })).id;
      onCreated(await post("/v1/sessions", { agent: agentValue, environment_id: environmentId, title: title.trim() || undefined }));
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }

  return (
    <Modal
      title="New session"
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button kind="primary" busy={busy} disabled={!agentValue} onClick={create}>
            Start session
          </Button>
        </>
      }
    >
      {choices.data === undefined && !choices.error && <Loading />}
      <ErrorBox error={choices.error} />
      {choices.data && agents.length === 0 && (
        <p>
          There is no agent yet. <Link href="/agents/new">Create one</Link> first.
        </p>
      )}
      {choices.data && agents.length > 0 && (
        <form onSubmit={create}>
          <Field label="Agent">
            <select name="agent" value={agentValue} onChange={(event) => setAgent(event.currentTarget.value)}>
              {agents.map((item) => (
                <option value={item.id}>
                  {item.name} (v{item.version}, {item.model.id})
                </option>
              ))}
            </select>
          </Field>
          <Field label="Environment" hint={environments.length ? null : "None yet: one named “default” will be created."}>
            <select
              name="environment"
              value={environmentValue}
              onChange={(event) => setEnvironment(event.currentTarget.value)}
              disabled={!environments.length}
            >
              {environments.map((item) => (
                <option value={item.id}>{item.name}</option>
              ))}
            </select>
          </Field>
          <Field label="Title (optional)">
            <input name="title" value={title} onInput={(event) => setTitle(event.currentTarget.value)} />
          </Field>
        </form>
      )}
      <ErrorBox error={error} />
    </Modal>
  );
}
