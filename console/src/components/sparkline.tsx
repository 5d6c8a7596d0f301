/**
 * A small bar chart of a series (inline SVG, no styles: its colours come from the stylesheet
 * by class), with a text alternative for screen readers.
 */
export function Sparkline(props: { values: readonly number[]; errors?: readonly number[]; label: string }) {
  const width = 300;
  const height = 48;
  const max = Math.max(1, ...props.values);
  const step = width / Math.max(1, props.values.length);
  return (
    <svg
      class="sparkline"
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={props.label}
    >
      <title>{props.label}</title>
      <line class="axis" x1="0" y1={height - 0.5} x2={width} y2={height - 0.5} />
      {props.values.map((value, index) => {
        const barHeight = (value / max) * (height - 2);
        const failed = props.errors?.[index] ?? 0;
        const errorHeight = (failed / max) * (height - 2);
        return (
          <g key={index}>
            {value > 0 && (
              <rect
                class="bar"
                x={index * step + 0.5}
                y={height - 1 - barHeight}
                width={Math.max(1, step - 1)}
                height={barHeight}
              />
            )}
            {failed > 0 && (
              <rect
                class="bar-error"
                x={index * step + 0.5}
                y={height - 1 - errorHeight}
                width={Math.max(1, step - 1)}
                height={errorHeight}
              />
            )}
          </g>
        );
      })}
    </svg>
  );
}
