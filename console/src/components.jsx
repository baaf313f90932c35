// Building blocks shared by the pages: headers, buttons, status pills, empty states, errors, dialogs, data loading.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export function PageHeader({ title, subtitle, children }) {
  return (
    <header class="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p class="subtitle">{subtitle}</p>}
      </div>
      <div class="actions">{children}</div>
    </header>
  );
}

export function Button({ kind = "secondary", busy, children, ...props }) {
  return (
    <button class={`button ${kind}`} disabled={busy || props.disabled} {...props}>
      {busy && <span class="spinner small" aria-hidden="true" />}
      {children}
    </button>
  );
}

const STATUS_LABEL = {
  idle: "Idle",
  running: "Running",
  rescheduling: "Retrying",
  terminated: "Terminated",
  waiting: "Waiting for you",
};

export function StatusPill({ status }) {
  return (
    <span class={`pill status-${status}`} data-testid="status">
      <span class="dot" />
      {STATUS_LABEL[status] || status}
    </span>
  );
}

export function Empty({ title, children, action }) {
  return (
    <div class="empty">
      <div class="empty-mark" aria-hidden="true">
        ◌
      </div>
      <h2>{title}</h2>
      <p>{children}</p>
      {action}
    </div>
  );
}

export function ErrorBox({ error, onRetry }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert">
      <strong>{error.status ? `Error ${error.status}` : "Error"}</strong>
      <span>{error.message}</span>
      {onRetry && (
        <button class="link" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Loading({ label = "Loading…" }) {
  return (
    <div class="loading">
      <span class="spinner" aria-hidden="true" /> {label}
    </div>
  );
}

export function Modal({ title, onClose, children, footer }) {
  const dialog = useRef(null);
  useEffect(() => {
    const onKey = (event) => event.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    dialog.current?.querySelector("input, textarea, select")?.focus();
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div class="modal-backdrop" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div class="modal" role="dialog" aria-modal="true" aria-label={title} ref={dialog}>
        <header>
          <h2>{title}</h2>
          <button class="icon" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        <div class="modal-body">{children}</div>
        {footer && <footer>{footer}</footer>}
      </div>
    </div>
  );
}

export function Field({ label, hint, children }) {
  return (
    <label class="field">
      <span class="label">{label}</span>
      {children}
      {hint && <span class="hint">{hint}</span>}
    </label>
  );
}

export function Copy({ text }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    await navigator.clipboard?.writeText(text);
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return (
    <button class="button secondary small" onClick={copy}>
      {done ? "Copied" : "Copy"}
    </button>
  );
}

// Loads data with `load(signal)`; `reload()` runs it again. Keeps the last data while reloading.
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const run = useCallback(() => {
    const controller = new AbortController();
    setState((previous) => ({ ...previous, loading: true }));
    load(controller.signal)
      .then((data) => setState({ data, error: null, loading: false }))
      .catch((error) => error.name !== "AbortError" && setState({ data: undefined, error, loading: false }));
    return () => controller.abort();
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}
