"use client";
// CPU and memory history charts for the host and VM pages: plain SVG, no chart library.
import { useQuery } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { useDisplayFormat } from "@/components/use-display-format";
import { hostMetricsQuery, vmMetricsQuery } from "@/lib/queries/metrics";
import type { MetricPoint } from "@/lib/schemas/metrics";

export type ChartPoint = { t: number; v: number };

const W = 600;
const H = 150;
const PAD = { left: 64, right: 8, top: 8, bottom: 20 };
/** a silence longer than this (agent down, VM stopped) breaks the line instead of bridging it */
const GAP_MS = 20_000;

type Box = { from: number; to: number; yMax: number; width?: number; height?: number };

/** Time → x and value → y inside the plot area (values clipped to 0..yMax). */
export function projector(box: Box): { x: (t: number) => number; y: (v: number) => number } {
  const width = box.width ?? W;
  const height = box.height ?? H;
  const span = Math.max(1, box.to - box.from);
  const yMax = box.yMax > 0 ? box.yMax : 1;
  return {
    x: (t) => PAD.left + ((t - box.from) / span) * (width - PAD.left - PAD.right),
    y: (v) => PAD.top + (1 - Math.min(1, Math.max(0, v / yMax))) * (height - PAD.top - PAD.bottom),
  };
}

const inWindow = (p: ChartPoint, box: Box) => p.t >= box.from && p.t <= box.to && Number.isFinite(p.v);

/** SVG path data for a series: one `M … L …` run per stretch without gaps, clipped to [from, to]. */
export function seriesPaths(points: ChartPoint[], opts: Box & { gapMs?: number }): string[] {
  const gap = opts.gapMs ?? GAP_MS;
  const { x, y } = projector(opts);
  const runs: string[] = [];
  let current = "";
  let prevT: number | null = null;
  // A lone sample becomes a tiny segment: with round caps it shows as a dot.
  const close = () => {
    if (current) runs.push(current.includes(" L") ? current : `${current} h0.01`);
  };
  for (const p of points) {
    if (!inWindow(p, opts)) continue;
    const xy = `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    if (prevT === null || p.t - prevT > gap) {
      close();
      current = `M${xy}`;
    } else {
      current += ` L${xy}`;
    }
    prevT = p.t;
  }
  close();
  return runs;
}

export function MetricsChart(props: {
  title: string;
  points: ChartPoint[];
  from: number;
  to: number;
  yMax: number;
  format: (v: number) => string;
  color: string;
  testId?: string;
}) {
  const { title, points, from, to, yMax, format, color } = props;
  const paths = seriesPaths(points, { from, to, yMax });
  // The newest sample in the window gets a dot.
  const newest = points.findLast((p) => inWindow(p, { from, to, yMax }));
  const { x, y } = projector({ from, to, yMax });
  const latestXY = newest ? [x(newest.t), y(newest.v)] : null;
  const latest = points.at(-1);
  const minutes = Math.round((to - from) / 60_000);
  const plotH = H - PAD.top - PAD.bottom;
  const t = useTranslations("metrics");
  return (
    <figure className="rounded-lg border border-slate-200 bg-white p-3" data-testid={props.testId}>
      <figcaption className="mb-1 flex items-baseline justify-between text-sm">
        <span className="font-medium">{title}</span>
        <span className="tabular-nums text-slate-600" data-testid="metrics-latest">
          {latest ? format(latest.v) : "—"}
        </span>
      </figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        className="h-auto w-full"
        role="img"
        aria-label={
          latest
            ? t("chartLabelLatest", { title, minutes, latest: format(latest.v) })
            : t("chartLabel", { title, minutes })
        }
      >
        {[0, 0.5, 1].map((f) => {
          const gy = PAD.top + (1 - f) * plotH;
          return (
            <g key={f}>
              <line x1={PAD.left} x2={W - PAD.right} y1={gy} y2={gy} className="stroke-slate-200" strokeWidth={1} />
              <text x={PAD.left - 6} y={gy + 4} textAnchor="end" fontSize={11} className="fill-slate-500">
                {format(yMax * f)}
              </text>
            </g>
          );
        })}
        <text x={PAD.left} y={H - 4} fontSize={11} className="fill-slate-500">
          {t("minutesAgo", { minutes })}
        </text>
        <text x={W - PAD.right} y={H - 4} textAnchor="end" fontSize={11} className="fill-slate-500">
          {t("now")}
        </text>
        {paths.map((d, i) => (
          <path key={i} d={d} fill="none" stroke={color} strokeWidth={2} strokeLinejoin="round" strokeLinecap="round" />
        ))}
        {latestXY && <circle cx={latestXY[0]} cy={latestXY[1]} r={3.5} fill={color} data-testid="metrics-latest-dot" />}
        {paths.length === 0 && points.length > 0 && (
          <text x={W / 2} y={H / 2} textAnchor="middle" fontSize={12} className="fill-slate-500">
            {t("noSamplesWindow")}
          </text>
        )}
      </svg>
    </figure>
  );
}

const pct = (v: number) => `${v >= 100 ? Math.round(v) : v.toFixed(v >= 10 ? 0 : 1)} %`;
const toPoints = (samples: MetricPoint[], key: "cpuPct" | "memUsedMb"): ChartPoint[] =>
  samples.map((s) => ({ t: Date.parse(s.at), v: s[key] }));

function RangePicker({ minutes, onChange }: { minutes: number; onChange: (m: number) => void }) {
  const t = useTranslations("metrics");
  return (
    <div className="flex gap-1 text-xs" role="group" aria-label={t("timeRange")}>
      {[15, 60].map((m) => (
        <button
          key={m}
          type="button"
          onClick={() => onChange(m)}
          aria-pressed={minutes === m}
          className={`rounded px-2 py-0.5 ring-1 ${minutes === m ? "bg-slate-800 text-white ring-slate-800" : "ring-slate-300 hover:bg-slate-100"}`}
        >
          {t("minutes", { minutes: m })}
        </button>
      ))}
    </div>
  );
}

function Panel(props: {
  heading: string;
  note: string;
  minutes: number;
  setMinutes: (m: number) => void;
  query: { isPending: boolean; isError: boolean; error: Error | null };
  /** the controller's clock at the answer (samples carry its timestamps, not the browser's) */
  now: string | undefined;
  samples: MetricPoint[] | undefined;
  cpuMax: number;
  memMax: number;
  memLabel: (v: number) => string;
  emptyText: string;
}) {
  const { query, samples, minutes } = props;
  const to = props.now ? Date.parse(props.now) : 0;
  const from = to - minutes * 60_000;
  const t = useTranslations("metrics");
  return (
    <section data-testid="metrics-panel" aria-label={props.heading}>
      <div className="mb-2 flex flex-wrap items-baseline justify-between gap-2">
        <h2 className="text-lg font-semibold">{props.heading}</h2>
        <RangePicker minutes={minutes} onChange={props.setMinutes} />
      </div>
      {query.isPending ? (
        <p className="text-sm text-slate-500">{t("loading")}</p>
      ) : query.isError ? (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {query.error?.message}
        </p>
      ) : !samples || samples.length === 0 ? (
        <p
          data-testid="metrics-empty"
          className="rounded-lg border border-dashed border-slate-300 bg-white px-3 py-6 text-center text-sm text-slate-500"
        >
          {props.emptyText}
        </p>
      ) : (
        <>
          <div className="grid gap-3 md:grid-cols-2">
            <MetricsChart
              title={t("cpu")}
              testId="metrics-chart-cpu"
              points={toPoints(samples, "cpuPct")}
              from={from}
              to={to}
              yMax={Math.max(props.cpuMax, ...samples.map((s) => s.cpuPct))}
              format={pct}
              color="#4f46e5"
            />
            <MetricsChart
              title={t("memory")}
              testId="metrics-chart-memory"
              points={toPoints(samples, "memUsedMb")}
              from={from}
              to={to}
              yMax={Math.max(props.memMax, ...samples.map((s) => s.memUsedMb))}
              format={props.memLabel}
              color="#0d9488"
            />
          </div>
          <p className="mt-1 text-xs text-slate-500">{props.note}</p>
        </>
      )}
    </section>
  );
}

export function HostMetricsPanel({ hostId }: { hostId: string }) {
  const [minutes, setMinutes] = useState(15);
  const q = useQuery(hostMetricsQuery(hostId, minutes));
  const t = useTranslations("metrics");
  const fmt = useDisplayFormat();
  const mb = (v: number) => fmt.mib(Math.round(v));
  return (
    <Panel
      heading={t("usage")}
      minutes={minutes}
      setMinutes={setMinutes}
      query={q}
      now={q.data?.now}
      samples={q.data?.samples}
      cpuMax={100}
      memMax={q.data?.memTotalMb ?? 0}
      memLabel={mb}
      note={t("hostNote", { cores: q.data?.cpuCount ?? "", total: fmt.mib(q.data?.memTotalMb ?? 0) })}
      emptyText={t("hostEmpty")}
    />
  );
}

export function VmMetricsPanel({ vmId }: { vmId: string }) {
  const [minutes, setMinutes] = useState(15);
  const q = useQuery(vmMetricsQuery(vmId, minutes));
  const vcpus = q.data?.vcpus ?? 1;
  const t = useTranslations("metrics");
  const fmt = useDisplayFormat();
  const mb = (v: number) => fmt.mib(Math.round(v));
  return (
    <Panel
      heading={t("usage")}
      minutes={minutes}
      setMinutes={setMinutes}
      query={q}
      now={q.data?.now}
      samples={q.data?.samples}
      cpuMax={100 * vcpus}
      memMax={q.data?.memoryMb ?? 0}
      memLabel={mb}
      note={t("vmNote", { vcpus, max: 100 * vcpus, assigned: fmt.mib(q.data?.memoryMb ?? 0) })}
      emptyText={t("vmEmpty")}
    />
  );
}
