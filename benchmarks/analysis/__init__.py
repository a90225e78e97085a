"""Reading results and judging them: pooled passes, intervals, verdicts, history."""
