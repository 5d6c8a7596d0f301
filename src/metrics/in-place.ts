type Labels = Readonly<Record<string, string>>;

/** One counter series: the request path adds to a number in place, nothing is allocated. */
export class CounterCell {
  value = 0;

  inc(amount = 1): void {
    this.value += amount;
  }
}

/** One histogram series: per-bucket counts (not yet cumulative), sum and count. */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    let index = 0;
    while (index < this.bounds.length && value > this.bounds[index]!) index++;
    if (index < this.bounds.length) this.counts[index]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * prom-client's own counters and histograms validate and hash their labels on every increment
 * (an object and a string per call, bound children included). These keep one cell per label set,
 * made once, and turn them into samples only when /metrics is scraped; prom-client's registry
 * renders them (anything with name, help, type and get() registers there).
 */
abstract class InPlaceMetric<Cell> {
  private readonly series = new Map<string, { labels: Labels; cell: Cell }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** The cell for one label set, the same one on every call. */
  cell(labels: Labels = {}): Cell {
    const key = JSON.stringify(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels, cell: this.makeCell() };
      this.series.set(key, entry);
    }
    return entry.cell;
  }

  protected entries(): Iterable<{ labels: Labels; cell: Cell }> {
    return this.series.values();
  }

  protected abstract makeCell(): Cell;
}

export interface Sample {
  metricName?: string;
  labels: Labels;
  value: number;
}

export class InPlaceCounter extends InPlaceMetric<CounterCell> {
  readonly type = "counter";

  protected makeCell(): CounterCell {
    return new CounterCell();
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values = [...this.entries()].map(({ labels, cell }) => ({ labels, value: cell.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values };
  }
}

export class InPlaceHistogram extends InPlaceMetric<HistogramCell> {
  readonly type = "histogram";

  constructor(
    name: string,
    help: string,
    private readonly bounds: readonly number[],
  ) {
    super(name, help);
  }

  protected makeCell(): HistogramCell {
    return new HistogramCell(this.bounds);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const { labels, cell } of this.entries()) {
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += cell.counts[index]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: String(bound) }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: "+Inf" }, value: cell.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: cell.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: cell.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values };
  }
}
