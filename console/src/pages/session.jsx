// One session, live: its events as a conversation (replies stream in as deltas), a message box, allow/deny for
// tool calls that wait for a person, interrupt, usage and cost, and a link to its workflow in the Temporal Web UI.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Link } from "wouter-preact";
import { useServer } from "../app.jsx";
import { followSession, get, listAll, post, sendEvents } from "../api.js";
import { Button, ErrorBox, Loading, StatusPill } from "../components.jsx";
import { ago, cost, number, pretty, seconds, textOf } from "../format.js";

const STATUS_EVENTS = {
  "session.status_running": "running",
  "session.status_idle": "idle",
  "session.status_rescheduled": "rescheduling",
  "session.status_terminated": "terminated",
};
const BOOKKEEPING = new Set(["span.model_request_start", "span.model_request_end", "session.usage", "session.updated"]);

// What the event log says now: status, the calls that wait for a person, results and answers by tool-use id.
function digest(events) {
  let status = null;
  let waiting = [];
  let usage = null;
  const results = new Map();
  const answers = new Map();
  for (const event of events) {
    if (STATUS_EVENTS[event.type]) {
      status = STATUS_EVENTS[event.type];
      waiting = event.type === "session.status_idle" && event.stop_reason?.type === "requires_action" ? event.stop_reason.event_ids : [];
    } else if (event.type === "agent.tool_result" || event.type === "agent.mcp_tool_result") {
      results.set(event.tool_use_id || event.mcp_tool_use_id, event);
    } else if (event.type === "session.usage") {
      usage = event.usage;
    } else if (event.type === "user.tool_confirmation") {
      answers.set(event.tool_use_id, event);
    } else if (event.type === "user.custom_tool_result") {
      answers.set(event.custom_tool_use_id, event);
    }
  }
  return { status, usage, pending: waiting.filter((id) => !answers.has(id)), results, answers };
}

export function SessionPage({ id }) {
  const { info } = useServer();
  const [session, setSession] = useState(null);
  const [events, setEvents] = useState(null);
  const [previews, setPreviews] = useState({});
  const [queued, setQueued] = useState([]);
  const [stream, setStream] = useState("connecting");
  const [error, setError] = useState(null);
  const [showAll, setShowAll] = useState(false);
  const refresh = useRef(null);

  useEffect(() => {
    let stop = () => {};
    let alive = true;
    const reloadSession = () => {
      clearTimeout(refresh.current);
      refresh.current = setTimeout(() => get(`/v1/sessions/${id}`).then((row) => alive && setSession(row)), 250);
    };
    (async () => {
      try {
        const [row, history] = await Promise.all([get(`/v1/sessions/${id}`), listAll(`/v1/sessions/${id}/events`, { limit: 1000 }, 20000)]);
        if (!alive) return;
        const persisted = history.filter((event) => event.processed_at);
        setSession(row);
        setEvents(persisted);
        stop = followSession(id, {
          after: persisted.at(-1)?.id,
          onState: (state, problem) => {
            setStream(state);
            if (problem) setError(problem);
          },
          onEvent: (event) => {
            if (event.type === "event_start") {
              const target = event.event;
              setPreviews((current) => ({ ...current, [target.id]: { type: target.type, text: "" } }));
            } else if (event.type === "event_delta") {
              const piece = event.delta?.content?.text || "";
              setPreviews((current) => {
                const preview = current[event.event_id];
                return preview ? { ...current, [event.event_id]: { ...preview, text: preview.text + piece } } : current;
              });
            } else {
              setEvents((current) => (current.some((item) => item.id === event.id) ? current : [...current, event]));
              setQueued((current) => current.filter((item) => item.id !== event.id));
              setPreviews((current) => {
                if (event.type === "span.model_request_end") return {};
                if (!current[event.id]) return current;
                const { [event.id]: _, ...rest } = current;
                return rest;
              });
              if (STATUS_EVENTS[event.type] || event.type === "session.usage" || event.type === "session.updated") reloadSession();
            }
          },
        });
      } catch (failure) {
        if (alive) setError(failure);
      }
    })();
    return () => {
      alive = false;
      clearTimeout(refresh.current);
      stop();
    };
  }, [id]);

  const state = useMemo(() => digest(events || []), [events]);
  if (error && !session) return <ErrorBox error={error} />;
  if (!session || !events) return <Loading label="Loading the session…" />;

  const status = state.status || session.status;
  const shown = state.pending.length ? "waiting" : status;
  const busy = status === "running" || status === "rescheduling";
  const closed = status === "terminated" || Boolean(session.archived_at);
  const temporalUrl = info.temporal_ui_url
    ? `${info.temporal_ui_url}/namespaces/${encodeURIComponent(info.temporal_namespace)}/workflows/${encodeURIComponent(session.id)}`
    : null;

  async function act(events) {
    setError(null);
    try {
      const sent = await sendEvents(session.id, events);
      setQueued((current) => [...current, ...sent.data.filter((event) => !event.processed_at && event.type === "user.message")]);
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section class="session-page">
      <div class="crumbs">
        <Link href="/sessions">Sessions</Link> / {session.title || session.id}
      </div>
      <header class="session-header">
        <div>
          <h1>{session.title || "Untitled session"}</h1>
          <p class="subtitle">
            <span class="mono">{session.id}</span> · agent{" "}
            <Link href={`/agents/${session.agent.id}`}>
              {session.agent.name} v{session.agent.version}
            </Link>{" "}
            · started {ago(session.created_at)}
          </p>
        </div>
        <div class="actions">
          <StatusPill status={shown} />
          {busy && (
            <Button kind="danger" onClick={() => act([{ type: "user.interrupt" }])} data-testid="interrupt">
              Interrupt
            </Button>
          )}
          {temporalUrl && (
            <a class="button secondary" href={temporalUrl} target="_blank" rel="noreferrer" data-testid="temporal-link">
              Workflow in Temporal ↗
            </a>
          )}
        </div>
      </header>
      <ErrorBox error={error} />
      <div class="session-body">
        <div class="conversation-column">
          <Conversation
            events={events}
            previews={previews}
            queued={queued}
            state={state}
            showAll={showAll}
            onAnswer={(toolUseId, result) => act([{ type: "user.tool_confirmation", tool_use_id: toolUseId, result }])}
          />
          <Composer
            disabled={closed}
            busy={busy}
            onSend={(text) => act([{ type: "user.message", content: [{ type: "text", text }] }])}
          />
        </div>
        <aside class="session-side">
          <Usage session={session} latest={state.usage} />
          <div class="card side-card">
            <h3>Stream</h3>
            <p class={`stream-state ${stream}`} data-testid="stream-state">
              <span class="dot" /> {{ live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", ended: "Ended", error: "Stopped" }[stream]}
            </p>
            <label class="toggle">
              <input type="checkbox" checked={showAll} onChange={(event) => setShowAll(event.currentTarget.checked)} />
              Show bookkeeping events
            </label>
          </div>
        </aside>
      </div>
    </section>
  );
}

function Usage({ session, latest }) {
  // The log's latest session.usage is cumulative and arrives with the turn; the session row may be read before it.
  const usage = latest || session.usage || {};
  const price = cost(session.agent.model?.id, usage);
  return (
    <div class="card side-card" data-testid="usage">
      <h3>Usage</h3>
      <dl class="facts">
        <dt>Input tokens</dt>
        <dd>{number(usage.input_tokens)}</dd>
        <dt>Output tokens</dt>
        <dd>{number(usage.output_tokens)}</dd>
        {usage.cache_read_input_tokens ? (
          <>
            <dt>Cache reads</dt>
            <dd>{number(usage.cache_read_input_tokens)}</dd>
          </>
        ) : null}
        <dt>Cost</dt>
        <dd data-testid="cost">
          {price ? price.text : "—"}
          {price?.note && <div class="muted small">{price.note}</div>}
        </dd>
        <dt>Active</dt>
        <dd>{seconds(session.stats?.active_seconds)}</dd>
        <dt>Model</dt>
        <dd class="mono">{session.agent.model?.id}</dd>
      </dl>
    </div>
  );
}

function Conversation({ events, previews, queued, state, showAll, onAnswer }) {
  const box = useRef(null);
  const pinned = useRef(true); // follow the end of the conversation unless the person scrolled up
  const previewList = Object.entries(previews).filter(([, preview]) => preview.text);
  useEffect(() => {
    const element = box.current;
    if (element && pinned.current) element.scrollTop = element.scrollHeight;
  }, [events.length, previewList.map(([, preview]) => preview.text.length).join(","), queued.length]);
  const onScroll = (event) => {
    const element = event.currentTarget;
    pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 80;
  };

  const items = events.filter((event) => showAll || !BOOKKEEPING.has(event.type));
  return (
    <div class="conversation" ref={box} onScroll={onScroll} data-testid="conversation">
      {items.length === 0 && !queued.length && (
        <div class="conversation-empty">
          <h2>Say something</h2>
          <p class="muted">
            The agent's reply streams in here. With the <code>scripted</code> model, try{" "}
            <code>[[slow:5]] hello</code> or <code>[[tool:bash {"{"}"command": "uname -a"{"}"}]] run it</code>.
          </p>
        </div>
      )}
      {items.map((event) => (
        <EventItem key={event.id} event={event} state={state} onAnswer={onAnswer} />
      ))}
      {queued.map((event) => (
        <div class="message user queued" key={event.id}>
          <div class="who">You · queued</div>
          <div class="bubble">{textOf(event.content)}</div>
        </div>
      ))}
      {previewList.map(([previewId, preview]) => (
        <div class={preview.type === "agent.thinking" ? "thinking live" : "message agent live"} key={previewId} data-testid="live-reply">
          <div class="who">{preview.type === "agent.thinking" ? "Thinking" : "Agent"} · writing…</div>
          <div class="bubble">
            {preview.text}
            <span class="caret" />
          </div>
        </div>
      ))}
    </div>
  );
}

function EventItem({ event, state, onAnswer }) {
  switch (event.type) {
    case "user.message":
      return (
        <div class="message user">
          <div class="who">You</div>
          <div class="bubble">{textOf(event.content)}</div>
        </div>
      );
    case "agent.message":
      return (
        <div class="message agent">
          <div class="who">Agent</div>
          <div class="bubble" data-testid="agent-message">
            {textOf(event.content)}
          </div>
        </div>
      );
    case "agent.thinking":
      return (
        <details class="thinking">
          <summary>Thinking</summary>
          <div>{textOf(event.content)}</div>
        </details>
      );
    case "agent.tool_use":
    case "agent.mcp_tool_use":
    case "agent.custom_tool_use":
      return <ToolCall event={event} state={state} onAnswer={onAnswer} />;
    case "agent.tool_result":
    case "agent.mcp_tool_result":
    case "user.tool_confirmation":
    case "user.custom_tool_result":
      return null; // shown on their tool call
    case "session.error":
      return (
        <div class="event-line error">
          {event.error?.message || event.error?.type}
          {event.error?.retry_status?.type === "retrying" && " · retrying"}
        </div>
      );
    case "user.interrupt":
      return <div class="event-line">Interrupted</div>;
    case "session.status_running":
      return null;
    case "session.status_idle":
      return event.stop_reason?.type === "requires_action" ? null : (
        <div class="event-line subtle">Idle · {event.stop_reason?.type || "end_turn"}</div>
      );
    case "session.status_rescheduled":
      return <div class="event-line warn">Retrying the model call</div>;
    case "session.status_terminated":
      return <div class="event-line error">Session terminated</div>;
    default:
      return (
        <details class="raw">
          <summary>{event.type}</summary>
          <pre>{pretty(event)}</pre>
        </details>
      );
  }
}

function ToolCall({ event, state, onAnswer }) {
  const [sent, setSent] = useState(null);
  const result = state.results.get(event.id);
  const answer = state.answers.get(event.id);
  const pending = state.pending.includes(event.id) && !sent;
  const permission = event.evaluated_permission;
  const output = result ? textOf(result.content) : null;
  return (
    <div class={`tool ${pending ? "pending" : ""}`} data-testid={pending ? "pending-tool" : "tool"}>
      <div class="tool-head">
        <span class="tool-name">{event.name}</span>
        {event.type === "agent.mcp_tool_use" && <span class="tag">MCP {event.mcp_server_name}</span>}
        {event.type === "agent.custom_tool_use" && <span class="tag">custom: your client runs it</span>}
        {permission === "ask" && !answer && <span class="tag warn">needs a person</span>}
        {answer?.result === "allow" && <span class="tag ok">allowed</span>}
        {answer?.result === "deny" && <span class="tag bad">denied</span>}
        {permission === "deny" && <span class="tag bad">denied by policy</span>}
      </div>
      <pre class="tool-input">{pretty(event.input)}</pre>
      {pending && event.type !== "agent.custom_tool_use" && (
        <div class="confirm">
          <span>Run this {event.name} call?</span>
          <Button
            kind="primary"
            onClick={() => {
              setSent("allow");
              onAnswer(event.id, "allow");
            }}
          >
            Allow
          </Button>
          <Button
            kind="danger"
            onClick={() => {
              setSent("deny");
              onAnswer(event.id, "deny");
            }}
          >
            Deny
          </Button>
        </div>
      )}
      {sent && !answer && <div class="muted small">Sending your answer…</div>}
      {output !== null && (
        <pre class={result.is_error ? "tool-output error" : "tool-output"} data-testid="tool-output">
          {output || "(no output)"}
        </pre>
      )}
    </div>
  );
}

function Composer({ disabled, busy, onSend }) {
  const [text, setText] = useState("");
  const send = () => {
    const message = text.trim();
    if (!message) return;
    onSend(message);
    setText("");
  };
  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      <textarea
        name="message"
        rows={2}
        placeholder={disabled ? "This session takes no more messages." : "Message the agent… (Enter sends, Shift+Enter for a new line)"}
        value={text}
        disabled={disabled}
        onInput={(event) => setText(event.currentTarget.value)}
        onKeyDown={(event) => {
          if (event.key === "Enter" && !event.shiftKey) {
            event.preventDefault();
            send();
          }
        }}
      />
      <Button kind="primary" type="submit" disabled={disabled || !text.trim()}>
        {busy ? "Queue" : "Send"}
      </Button>
    </form>
  );
}
