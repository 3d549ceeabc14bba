// The result table and the CSV / JSON downloads (CSV = the table's rows, all of them).

const SHOWN_ROWS = 300;

export function renderTable(table, { columns, rows }) {
  const head = document.createElement("thead");
  const headRow = head.insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = column;
    headRow.append(th);
  }
  const body = document.createElement("tbody");
  for (const row of rows.slice(0, SHOWN_ROWS)) {
    const tr = body.insertRow();
    for (const value of row) tr.insertCell().textContent = typeof value === "number" ? Number(value.toPrecision(6)) : String(value ?? "");
  }
  const caption = document.createElement("caption");
  caption.textContent = rows.length > SHOWN_ROWS ? `First ${SHOWN_ROWS} of ${rows.length} rows (the CSV has all)` : `${rows.length} rows`;
  table.replaceChildren(caption, head, body);
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv({ columns, rows }) {
  return [columns, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

export function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}
