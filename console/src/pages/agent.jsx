// One agent: create or edit it (a change makes a new version), its version history, and a diff between versions.
import { useEffect, useMemo, useState } from "preact/hooks";
import { Link, useLocation } from "wouter-preact";
import { diffLines } from "diff";
import { ApiError, get, listAll, post } from "../api.js";
import { Button, ErrorBox, Field, Loading, PageHeader, useLoad } from "../components.jsx";
import { ago, pretty, stable, when } from "../format.js";

const MODELS = ["scripted", "claude-sonnet-4-5", "claude-opus-4-5", "claude-haiku-4-5"];
const TOOLSET = "agent_toolset_20260401";
const PRESETS = {
  none: { label: "No tools", tools: [] },
  ask: {
    label: "Built-in tools, ask before each call",
    tools: [{ type: TOOLSET, default_config: { permission_policy: { type: "always_ask" } } }],
  },
  auto: {
    label: "Built-in tools, ask before writes and commands (auto)",
    tools: [{ type: TOOLSET, default_config: { permission_policy: { type: "auto" } } }],
  },
  allow: {
    label: "Built-in tools, always allowed",
    tools: [{ type: TOOLSET, default_config: { permission_policy: { type: "always_allow" } } }],
  },
  custom: { label: "Custom (JSON)", tools: null },
};
const VOLATILE = ["id", "type", "version", "created_at", "updated_at", "archived_at"];

function presetOf(tools) {
  if (!tools?.length) return "none";
  if (tools.length !== 1) return "custom";
  const [tool] = tools;
  if (tool.type !== TOOLSET || tool.configs?.length || tool.default_config?.enabled === false) return "custom";
  const policy = tool.default_config?.permission_policy?.type;
  return { always_ask: "ask", auto: "auto", always_allow: "allow" }[policy] || "custom";
}

function formFrom(agent) {
  return {
    name: agent?.name ?? "",
    model: agent?.model?.id ?? "scripted",
    description: agent?.description ?? "",
    system: agent?.system ?? "",
    preset: presetOf(agent?.tools),
    toolsJson: pretty(agent?.tools ?? []),
  };
}

function bodyFrom(form) {
  let tools = PRESETS[form.preset].tools;
  if (tools === null) {
    try {
      tools = JSON.parse(form.toolsJson || "[]");
    } catch (error) {
      throw new ApiError(0, "invalid_request_error", `Tools: not valid JSON (${error.message})`);
    }
  }
  return {
    name: form.name.trim(),
    model: form.model.trim(),
    description: form.description.trim() || null,
    system: form.system.trim() || null,
    tools,
  };
}

export function AgentPage({ id }) {
  const [, navigate] = useLocation();
  const agent = useLoad((signal) => (id ? get(`/v1/agents/${id}`, {}, signal) : Promise.resolve(null)), [id]);
  const [tab, setTab] = useState("configuration");
  if (agent.error) return <ErrorBox error={agent.error} onRetry={agent.reload} />;
  if (agent.data === undefined) return <Loading />;
  const current = agent.data;
  return (
    <section>
      <div class="crumbs">
        <Link href="/agents">Agents</Link> / {current ? current.name : "New agent"}
      </div>
      <PageHeader
        title={current ? current.name : "New agent"}
        subtitle={current ? `${current.id} · version ${current.version} · updated ${ago(current.updated_at)}` : null}
      >
        {current && !current.archived_at && (
          <Button onClick={() => navigate(`/sessions?new=${current.id}`)}>Start a session</Button>
        )}
      </PageHeader>
      {current && (
        <div class="tabs" role="tablist">
          {["configuration", "versions"].map((name) => (
            <button role="tab" class={tab === name ? "tab active" : "tab"} onClick={() => setTab(name)}>
              {name === "configuration" ? "Configuration" : `Versions (${current.version})`}
            </button>
          ))}
        </div>
      )}
      {tab === "configuration" || !current ? (
        <AgentForm
          agent={current}
          onSaved={(saved) => (current ? agent.reload() : navigate(`/agents/${saved.id}`, { replace: true }))}
        />
      ) : (
        <Versions agent={current} />
      )}
    </section>
  );
}

function AgentForm({ agent, onSaved }) {
  const [form, setForm] = useState(() => formFrom(agent));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [note, setNote] = useState(null);
  useEffect(() => setForm(formFrom(agent)), [agent?.id, agent?.version]);
  const set = (key) => (event) => setForm({ ...form, [key]: event.currentTarget.value });
  const readOnly = Boolean(agent?.archived_at);

  async function save(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const body = bodyFrom(form);
      const saved = agent ? await post(`/v1/agents/${agent.id}`, { ...body, version: agent.version }) : await post("/v1/agents", body);
      setNote(agent && saved.version === agent.version ? "Nothing changed." : `Saved as version ${saved.version}.`);
      onSaved(saved);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card form" onSubmit={save} data-testid="agent-form">
      <div class="grid-2">
        <Field label="Name">
          <input name="name" value={form.name} onInput={set("name")} required disabled={readOnly} />
        </Field>
        <Field label="Model" hint={<>Any model id; <code>scripted</code> is the built-in offline model.</>}>
          <input name="model" list="models" value={form.model} onInput={set("model")} required disabled={readOnly} />
          <datalist id="models">
            {MODELS.map((model) => (
              <option value={model} />
            ))}
          </datalist>
        </Field>
      </div>
      <Field label="Description">
        <input name="description" value={form.description} onInput={set("description")} disabled={readOnly} />
      </Field>
      <Field label="System prompt">
        <textarea name="system" rows={6} value={form.system} onInput={set("system")} disabled={readOnly} />
      </Field>
      <Field label="Tools" hint="Tool calls run in the session's sandbox; “ask” parks the turn until a person answers.">
        <select name="tools" value={form.preset} onChange={set("preset")} disabled={readOnly}>
          {Object.entries(PRESETS).map(([value, preset]) => (
            <option value={value}>{preset.label}</option>
          ))}
        </select>
      </Field>
      {form.preset === "custom" && (
        <Field label="Tools (JSON)" hint="The agent's tools array, as the API takes it.">
          <textarea class="mono" rows={10} value={form.toolsJson} onInput={set("toolsJson")} disabled={readOnly} />
        </Field>
      )}
      <ErrorBox error={error} />
      <div class="form-actions">
        {note && <span class="note" data-testid="saved-note">{note}</span>}
        <Button kind="primary" type="submit" busy={busy} disabled={readOnly}>
          {agent ? "Save changes" : "Create agent"}
        </Button>
      </div>
    </form>
  );
}

function comparable(version) {
  const copy = { ...version };
  for (const key of VOLATILE) delete copy[key];
  return pretty(stable(copy));
}

function Versions({ agent }) {
  const versions = useLoad((signal) => listAll(`/v1/agents/${agent.id}/versions`, { limit: 100 }, 1000, signal), [
    agent.id,
    agent.version,
  ]);
  const [left, setLeft] = useState(Math.max(1, agent.version - 1));
  const [right, setRight] = useState(agent.version);
  useEffect(() => {
    setLeft(Math.max(1, agent.version - 1));
    setRight(agent.version);
  }, [agent.version]);
  const byVersion = useMemo(() => new Map((versions.data || []).map((item) => [item.version, item])), [versions.data]);
  if (versions.error) return <ErrorBox error={versions.error} onRetry={versions.reload} />;
  if (!versions.data) return <Loading />;
  const a = byVersion.get(Number(left));
  const b = byVersion.get(Number(right));
  return (
    <div class="versions">
      <div class="card flush version-list">
        <table class="table">
          <thead>
            <tr>
              <th>Version</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {versions.data.map((item) => (
              <tr key={item.version} class={item.version === Number(right) ? "selected" : ""}>
                <td class="strong">v{item.version}</td>
                <td class="muted" title={when(item.updated_at)}>
                  {ago(item.updated_at)}
                </td>
                <td class="num">
                  {item.version > 1 && (
                    <button
                      class="link"
                      onClick={() => {
                        setLeft(item.version - 1);
                        setRight(item.version);
                      }}
                    >
                      changes
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div class="card diff-card">
        <div class="diff-controls">
          Compare
          <select aria-label="from version" value={left} onChange={(event) => setLeft(Number(event.currentTarget.value))}>
            {versions.data.map((item) => (
              <option value={item.version}>v{item.version}</option>
            ))}
          </select>
          with
          <select aria-label="to version" value={right} onChange={(event) => setRight(Number(event.currentTarget.value))}>
            {versions.data.map((item) => (
              <option value={item.version}>v{item.version}</option>
            ))}
          </select>
        </div>
        {a && b ? <Diff before={comparable(a)} after={comparable(b)} /> : <p class="muted">Pick two versions.</p>}
      </div>
    </div>
  );
}

export function Diff({ before, after }) {
  const parts = diffLines(before, after);
  const changed = parts.some((part) => part.added || part.removed);
  return (
    <pre class="diff" data-testid="diff">
      {!changed && <div class="muted">These versions are the same.</div>}
      {parts.flatMap((part, index) =>
        part.value
          .replace(/\n$/, "")
          .split("\n")
          .map((line, row) => (
            <div key={`${index}-${row}`} class={part.added ? "add" : part.removed ? "del" : "same"}>
              <span class="sign">{part.added ? "+" : part.removed ? "−" : " "}</span>
              {line}
            </div>
          )),
      )}
    </pre>
  );
}
