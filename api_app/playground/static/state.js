// The chosen model, endpoint and form values in the URL fragment, so a link restores the form.
// Values too large for a URL (e.g. survey data) are left out: the form keeps its example there.

const MAX_VALUE_CHARS = 600;

export function readState() {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  let values = {};
  try { values = JSON.parse(params.get("values") || "{}"); } catch { values = {}; }
  return { model: params.get("model"), endpoint: params.get("endpoint"), values };
}

export function writeState(model, endpoint, values) {
  const small = Object.fromEntries(Object.entries(values).filter(([, v]) =>
    !(v instanceof File) && JSON.stringify(v).length <= MAX_VALUE_CHARS));
  const params = new URLSearchParams({ model, endpoint, values: JSON.stringify(small) });
  window.history.replaceState(null, "", `#${params}`);
}
