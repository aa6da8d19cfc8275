import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { type Reading, toUnit, type WeightUnit } from './scale-units';

const HEIGHT = 260;

/** The theme's colour of the moment, so the chart follows the light and dark schemes. */
const colour = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function useColourScheme(): string {
  const [scheme, setScheme] = useState(() =>
    matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
  );
  useEffect(() => {
    const query = matchMedia('(prefers-color-scheme: dark)');
    const change = () => setScheme(query.matches ? 'dark' : 'light');
    query.addEventListener('change', change);
    return () => query.removeEventListener('change', change);
  }, []);
  return scheme;
}

/**
 * Weight and body fat over time, drawn on a canvas by uPlot (no eval, no style elements: it sets element
 * styles through the CSSOM, which the console's policy allows). Loaded only when a chart is shown. The
 * canvas is hidden from screen readers; the page beside it has the same values as a table.
 */
export default function WeightChart({ readings, unit }: { readings: Reading[]; unit: WeightUnit }) {
  const holder = useRef<HTMLDivElement>(null);
  const scheme = useColourScheme();
  useEffect(() => {
    const node = holder.current;
    if (!node) return;
    const oldestFirst = [...readings].sort((a, b) => (a.measuredAt < b.measuredAt ? -1 : 1));
    const text = colour('--muted');
    const grid = colour('--border');
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const plot = new uPlot(
      {
        width: node.clientWidth,
        height: HEIGHT,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true }, weight: { auto: true }, fat: { auto: true } },
        series: [
          {},
          {
            label: `Weight (${unit})`,
            scale: 'weight',
            stroke: colour('--accent'),
            width: 2,
            points: { show: true, size: 6 },
          },
          {
            label: 'Body fat (%)',
            scale: 'fat',
            stroke: colour('--focus'),
            width: 2,
            dash: [6, 4],
            points: { show: true, size: 5 },
            spanGaps: true,
          },
        ],
        axes: [
          axis,
          { ...axis, scale: 'weight', label: unit, size: 56 },
          { ...axis, scale: 'fat', side: 1, label: '%', size: 48, grid: { show: false } },
        ],
      },
      [
        oldestFirst.map((reading) => Date.parse(reading.measuredAt) / 1000),
        oldestFirst.map((reading) => toUnit(reading.weightKg, unit)),
        oldestFirst.map((reading) => reading.bodyFatPct ?? null),
      ],
      node,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: node.clientWidth, height: HEIGHT }));
    resize.observe(node);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
    // The scheme only asks for a redraw in its colours.
  }, [readings, unit, scheme]);
  return (
    <div className="chart-box">
      <div ref={holder} className="chart" aria-hidden="true" data-points={readings.length} />
      <p className="chart-legend" aria-hidden="true">
        <span className="key weight">Weight ({unit})</span> <span className="key fat">Body fat (%)</span>
      </p>
    </div>
  );
}
