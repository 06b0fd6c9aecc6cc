// The dashboard's trend charts, drawn by Chart.js from each canvas's data-chart attribute (JSON the
// server wrote: type, unit, labels, datasets). The same numbers are in the table beside them. Once
// drawn, a canvas gets data-rendered="true" (browser tests wait on it).
(function () {
  "use strict";
  var COLOURS = ["#0b5cad", "#a4141b", "#2f7d32", "#7a4d00"];

  function tick(unit) {
    return function (value) {
      return unit === "%" ? value + "%" : unit === "hours" ? value + " h" : value;
    };
  }

  function draw(canvas) {
    var spec;
    try {
      spec = JSON.parse(canvas.getAttribute("data-chart"));
    } catch (err) {
      return;
    }
    var datasets = spec.datasets.map(function (set, i) {
      var colour = COLOURS[i % COLOURS.length];
      return {
        label: set.label,
        data: set.data,
        borderColor: colour,
        backgroundColor: spec.type === "bar" ? colour : "transparent",
        spanGaps: false,
        tension: 0.2,
        pointRadius: 3,
      };
    });
    var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var scale = { beginAtZero: true, ticks: { callback: tick(spec.unit) } };
    if (spec.unit === "%") {
      scale.max = 100;
    }
    new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduced ? false : { duration: 300 },
        scales: { y: scale },
        plugins: { legend: { display: datasets.length > 1 } },
      },
    });
    canvas.setAttribute("data-rendered", "true");
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.Chart) {
      return; // the tables still say everything
    }
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
