package dev.lancet.cli;

import java.io.PrintStream;
import java.util.function.LongConsumer;

/**
 * A progress line on stderr: redrawn in place on a terminal, otherwise printed at every 10% so logs of
 * long jobs still show movement.
 */
final class Progress implements LongConsumer {

    private final String unit;
    private final long total;
    private final PrintStream out;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private long lastDecile = -1;

    Progress(String unit, long total) {
        this.unit = unit;
        this.total = total;
        this.out = System.err;
        this.terminal = System.console() != null;
    }

    @Override
    public void accept(long done) {
        double seconds = (System.nanoTime() - start) / 1e9;
        double rate = done / Math.max(seconds, 1e-9);
        long eta = Math.round((total - done) / Math.max(rate, 1e-9));
        int width = 30;
        int filled = (int) (width * done / Math.max(total, 1));
        String line = String.format("[%s%s] %d/%d %s  %.1f/s  %.0fs elapsed  eta %ds", "#".repeat(filled),
                " ".repeat(width - filled), done, total, unit, rate, seconds, eta);
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
