package dev.lancet.cli;

import dev.lancet.jobs.JobProgress;
import java.io.PrintStream;

/**
 * A job's progress as a line on stderr: redrawn in place on a terminal, otherwise printed at every 10% so logs
 * of long jobs still show movement. Rate and ETA count from the start of the current phase.
 */
final class Progress implements JobProgress {

    private final PrintStream out = System.err;
    private final boolean terminal = System.console() != null;
    private String phase;
    private long start;
    private long lastDecile;

    @Override
    public void report(String phase, long done, long total) {
        if (!phase.equals(this.phase) || done == 0) {
            this.phase = phase;
            start = System.nanoTime();
            lastDecile = -1;
        }
        if (done == 0) {
            return;
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        double rate = done / Math.max(seconds, 1e-9);
        long eta = Math.round((total - done) / Math.max(rate, 1e-9));
        int width = 30;
        int filled = (int) (width * done / Math.max(total, 1));
        String line = String.format("[%s%s] %d/%d %s  %.1f/s  %.0fs elapsed  eta %ds", "#".repeat(filled),
                " ".repeat(width - filled), done, total, phase, rate, seconds, eta);
        if (terminal) {
            out.print("\r" + line + (done >= total ? "\n" : ""));
            out.flush();
        } else {
            long decile = 10 * done / Math.max(total, 1);
            if (decile != lastDecile) {
                lastDecile = decile;
                out.println(line);
            }
        }
    }
}
