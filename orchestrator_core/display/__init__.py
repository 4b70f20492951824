"""What people look at, shared by the terminal, reports and the dashboard: durations, the
DAG laid out and drawn, the DAG as text, the timeline, and output streams that outlive their reader."""
