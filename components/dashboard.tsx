"use client";
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { summaryQuery } from "@/lib/queries/lists";
import { ARCHES, type Arch } from "@/lib/arch";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { formatMb } from "@/lib/format";

function total(counts: Record<string, number>) {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function Card({ title, href, arch, counts }: { title: string; href: string; arch: Arch; counts: Record<string, number> }) {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-4" data-testid={`card-${title.toLowerCase()}-${arch}`}>
      <div className="flex items-center justify-between">
        <Link href={`${href}?arch=${arch}`} className="text-sm font-medium text-slate-600 hover:underline">{title}</Link>
        <ArchBadge arch={arch} />
      </div>
      <p className="mt-2 text-3xl font-semibold" data-testid="count">{total(counts)}</p>
      <ul className="mt-2 flex flex-wrap gap-1">
        {entries.map(([status, n]) => (
          <li key={status}>
            <Link href={`${href}?arch=${arch}&status=${status}`}><StatusBadge status={`${status}`} /> <span className="text-xs text-slate-600">{n}</span></Link>
          </li>
        ))}
        {entries.length === 0 && <li className="text-xs text-slate-400">none</li>}
      </ul>
    </div>
  );
}

export function Dashboard() {
  const { data, error, isPending } = useQuery(summaryQuery);
  if (isPending) return <p className="text-sm text-slate-500">Loading…</p>;
  if (error) return <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">{error.message}</p>;
  const noHosts = ARCHES.every((a) => total(data.hosts[a]) === 0);
  return (
    <div className="space-y-8">
      {noHosts && (
        <div className="rounded-lg border border-amber-200 bg-amber-50 p-4 text-sm text-amber-900">
          No hosts have joined yet. Start the agent on each node with the cluster join token; <code>npm run up</code> starts a local x86_64 agent (and an aarch64 one when qemu-user is available).
        </div>
      )}
      {ARCHES.map((arch) => {
        const cap = data.capacity[arch];
        return (
          <section key={arch} aria-labelledby={`h-${arch}`}>
            <h2 id={`h-${arch}`} className="mb-3 flex items-center gap-2 text-lg font-semibold">
              <ArchBadge arch={arch} /> <span className="text-sm font-normal text-slate-600">{cap.allocatedCpus} of {cap.cpus} physical CPUs allocated · {formatMb(cap.allocatedMemoryMb)} of {formatMb(cap.memoryMb)} RAM</span>
            </h2>
            <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
              <Card title="Hosts" href="/hosts" arch={arch} counts={data.hosts[arch]} />
              <Card title="VMs" href="/vms" arch={arch} counts={data.vms[arch]} />
              <Card title="Images" href="/images" arch={arch} counts={data.images[arch]} />
            </div>
          </section>
        );
      })}
    </div>
  );
}
