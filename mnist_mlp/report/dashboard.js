// mnist-mlp dashboard: the page's own controls. Data comes from the JSON block; every text from a
// results.json goes into the page through textContent only (never innerHTML), so it stays text.
// The scoreboard's ratios and scores follow mnist_mlp/dashboard/scores.py (the browser test checks
// the score against it); whether a run is scored against a baseline at all comes from that module
// too (board.unscored[baseline][run]: indexes into board.reasons, empty when scored), never decided here.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var board = data.board;
  var kinds = {};
  board.figures.forEach(function (f) { kinds[f.key] = f.kind; });

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "";
    var a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    if (a >= 100) return v.toFixed(1);
    if (a >= 1) return v.toFixed(3);
    return v.toPrecision(3);
  }
  function ratio(v, b) { return (v === null || v === undefined || b === null || b === undefined || b === 0) ? null : v / b; }
  function geomean(xs) {
    var good = xs.filter(function (x) { return x !== null && x > 0 && isFinite(x); });
    if (!good.length) return null;
    return Math.exp(good.reduce(function (s, x) { return s + Math.log(x); }, 0) / good.length);
  }
  function isSpeed(key) { return kinds[key] === "time" || kinds[key] === "rate"; }
  function unscored(run, base) { return board.unscored[base][run].map(function (k) { return board.reasons[k]; }); }
  function score(run, base, col) {
    if (unscored(run, base).length) return [null, 0];
    var mine = board.values[run], theirs = board.values[base], perCase = [];
    board.cases.forEach(function (c) {
      if (!mine[c] || !theirs[c]) return;
      var oriented = [];
      Object.keys(mine[c]).forEach(function (key) {
        if (!isSpeed(key) || !theirs[c][key]) return;
        var r = ratio(mine[c][key][col], theirs[c][key][col]);
        if (r !== null && r > 0) oriented.push(kinds[key] === "time" ? 1 / r : r);
      });
      var s = geomean(oriented);
      if (s !== null) perCase.push(s);
    });
    return [geomean(perCase), perCase.length];
  }

  function drawBoard() {
    var table = document.getElementById("score-table");
    if (!table || !data.runs.length) return;
    var base = Number(document.getElementById("baseline").value);
    var col = Number(document.querySelector("input[name=basis]:checked").value);
    var only = document.getElementById("case-filter").value;  // "" : every case (the score is always over all)
    table.textContent = "";
    var head = el("thead"), hr = el("tr");
    hr.appendChild(el("th", "case"));
    hr.appendChild(el("th", "figure"));
    data.runs.forEach(function (r, i) { hr.appendChild(el("th", r.name + (i === base ? " (baseline)" : ""))); });
    head.appendChild(hr);
    table.appendChild(head);
    var body = el("tbody");
    var sr = el("tr", null, "score");
    sr.appendChild(el("td", "all shared cases"));
    sr.appendChild(el("td", "score (geometric mean; > 1 faster)"));
    data.runs.forEach(function (r, i) {
      var s = score(i, base, col), td = el("td", null, "num score-cell"), why = unscored(i, base);
      td.dataset.run = String(i);
      if (why.length) {
        td.dataset.unscored = "true";
        td.className += " unscored";
        td.appendChild(document.createTextNode("not scored"));
        td.appendChild(el("small", data.not_scored + ": " + why.join("; ")));
      } else {
        if (s[0] !== null) { td.dataset.score = String(s[0]); td.appendChild(document.createTextNode(s[0].toFixed(2))); }
        else td.appendChild(document.createTextNode("n/a"));
        td.appendChild(el("small", s[1] + (s[1] === 1 ? " case" : " cases")));
      }
      sr.appendChild(td);
    });
    body.appendChild(sr);
    board.cases.forEach(function (c) {
      if (only && c !== only) return;
      var first = true;
      board.figures.forEach(function (f) {
        var any = data.runs.some(function (r, i) { return board.values[i][c] && board.values[i][c][f.key]; });
        if (!any) return;
        var tr = el("tr", null, first ? "case-start" : "");
        tr.appendChild(el("td", first ? c : ""));
        tr.appendChild(el("td", f.label + " (" + f.unit + (col === 1 && isSpeed(f.key) ? (f.kind === "time" ? " x GFLOP/s" : " per GFLOP/s") : "") + ")"));
        first = false;
        data.runs.forEach(function (r, i) {
          var td = el("td", null, "num");
          var mine = board.values[i][c] && board.values[i][c][f.key];
          var theirs = board.values[base][c] && board.values[base][c][f.key];
          var v = mine ? mine[col] : null;
          // no ratio against a baseline of another workload: the run's own figure only
          var q = unscored(i, base).length ? null : ratio(v, theirs ? theirs[col] : null);
          if (v !== null) {
            td.dataset.run = String(i);
            td.dataset.case = c;
            td.dataset.figure = f.key;
            if (q !== null) {
              td.dataset.ratio = q.toFixed(2);
              td.appendChild(document.createTextNode(q.toFixed(2) + "×"));
              var faster = kinds[f.key] === "time" ? 1 / q : q;
              if (isSpeed(f.key) && faster > 1.05) td.className += " better";
              if (isSpeed(f.key) && faster < 0.95) td.className += " worse";
            } else {
              td.appendChild(document.createTextNode("—"));
            }
            td.appendChild(el("small", fmt(f.unit === "%" && f.kind === "accuracy" ? v * 100 : v)));
          }
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
    });
    table.appendChild(body);
  }

  function drawCharts() {
    if (typeof Plotly === "undefined") {
      document.getElementById("charts").appendChild(el("p", "plotly.js did not load: it should sit beside this page (mnist-mlp dashboard writes it)."));
      return;
    }
    var nodes = document.querySelectorAll("div.chart");
    Array.prototype.forEach.call(nodes, function (node) {
      var fig = data.charts[Number(node.dataset.chart)];
      var verdict = node.classList.contains("verdict-chart");  // the first screen's bars: no tool bar over their text
      Plotly.newPlot(node, fig.data, fig.layout, { displaylogo: false, responsive: true, displayModeBar: !verdict }).then(function () {
        node.dataset.drawn = "true";
      });
    });
  }

  function copyChanges() {
    var text = document.getElementById("changes-text").textContent, button = document.getElementById("copy-changes");
    function selectIt() {
      var range = document.createRange();
      range.selectNodeContents(document.getElementById("changes-text"));
      var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { button.textContent = "Copied"; }, selectIt);
    } else selectIt();
  }

  // a link to a folded section (the nav's, or the address) opens it
  function openTarget() {
    var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    var fold = target && target.querySelector("details.fold");
    if (fold) fold.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  var select = document.getElementById("baseline");
  if (select) select.addEventListener("change", drawBoard);
  var filter = document.getElementById("case-filter");
  if (filter) filter.addEventListener("change", drawBoard);
  Array.prototype.forEach.call(document.querySelectorAll("input[name=basis]"), function (r) { r.addEventListener("change", drawBoard); });
  var copy = document.getElementById("copy-changes");
  if (copy) copy.addEventListener("click", copyChanges);
  drawBoard();
  drawCharts();
})();
