// Small formatting helpers: ages, numbers, text of content blocks, cost estimates.

export function ago(stamp) {
  if (!stamp) return "—";
  const seconds = Math.max(0, Math.round((Date.now() - new Date(stamp).getTime()) / 1000));
  if (seconds < 45) return "just now";
  const units = [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ];
  for (const [unit, size] of units) if (seconds >= size) return `${Math.floor(seconds / size)}${unit} ago`;
  return `${seconds}s ago`;
}

export function when(stamp) {
  return stamp ? new Date(stamp).toLocaleString() : "—";
}

export const number = (value) => (value ?? 0).toLocaleString();

export function textOf(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((block) => (block.type === "text" ? block.text : `[${block.type}]`)).join("");
}

export function seconds(value) {
  if (!value) return "0 s";
  if (value < 60) return `${value.toFixed(1)} s`;
  const minutes = Math.floor(value / 60);
  return `${minutes} min ${Math.round(value % 60)} s`;
}

// List prices in USD per million tokens (input, output), by model-id prefix; the first match wins.
// An estimate only: the server's usage.list_cost, when it reports one, is shown instead.
const PRICES = [
  ["claude-opus-4-5", 5, 25],
  ["claude-opus-4", 15, 75],
  ["claude-sonnet-4", 3, 15],
  ["claude-3-7-sonnet", 3, 15],
  ["claude-haiku-4-5", 1, 5],
  ["claude-3-5-haiku", 0.8, 4],
];

export function cost(model, usage) {
  if (usage?.list_cost?.amount !== undefined) {
    return { text: money(Number(usage.list_cost.amount), usage.list_cost.currency), note: "reported by the server" };
  }
  if ((model || "").startsWith("scripted")) return { text: money(0, "USD"), note: "scripted model" };
  const price = PRICES.find(([prefix]) => (model || "").startsWith(prefix));
  if (!price) return null;
  const [, input, output] = price;
  const cacheRead = usage?.cache_read_input_tokens ?? 0;
  const cacheWrite =
    (usage?.cache_creation?.ephemeral_5m_input_tokens ?? 0) + (usage?.cache_creation?.ephemeral_1h_input_tokens ?? 0);
  const dollars =
    ((usage?.input_tokens ?? 0) * input +
      cacheRead * input * 0.1 +
      cacheWrite * input * 1.25 +
      (usage?.output_tokens ?? 0) * output) /
    1e6;
  return { text: money(dollars, "USD"), note: "estimate at list prices" };
}

function money(amount, currency = "USD") {
  return new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 4 }).format(amount);
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

// JSON with keys sorted at every level, for diffs that show only real changes.
export function stable(value) {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, stable(value[key])]),
    );
  }
  return value;
}
