package dev.lancet.engine.eval;

import dev.lancet.engine.model.Loss;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.Windows;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongConsumer;

/**
 * Perplexity = exp(mean NLL) over positions 1..seq−1 of each window, given the prefix inside the window.
 *
 * <p>Batches are evaluated side by side on {@link #THREADS} threads and summed in batch order, so the result does not
 * depend on how many threads there are (each batch's loss is the same whichever thread computes it).
 */
public final class Perplexity {

    /** Evaluation threads: one per core unless {@code -Dlancet.eval.threads} says otherwise. */
    public static final int THREADS = Integer.getInteger("lancet.eval.threads",
            Runtime.getRuntime().availableProcessors());

    /**
     * Shared by every evaluation of the process, so that each thread's forward workspace stays warm from one evaluation
     * to the next (a fresh thread sizes its workspace on its first batch, at a cost of several batches). Daemon
     * threads with the 16 MiB stack the native libraries need.
     */
    private static final ExecutorService POOL = Executors.newFixedThreadPool(THREADS, new ThreadFactory() {
        private final AtomicInteger count = new AtomicInteger();

        @Override
        public Thread newThread(Runnable work) {
            Thread thread = new Thread(null, work, "lancet-eval-" + count.incrementAndGet(), 16L << 20);
            thread.setDaemon(true);
            return thread;
        }
    });

    private Perplexity() {
    }

    /**
     * @param progress receives the number of windows done after each batch
     */
    public static Loss evaluate(Transformer model, Windows windows, int batchSize, LongConsumer progress) {
        List<Loss> totals = runningTotals(model, windows, batchSize, progress);
        return totals.isEmpty() ? new Loss(0, 0) : totals.get(totals.size() - 1);
    }

    /**
     * The summed loss after each batch: entry k is what {@link #evaluate} gives on the first (k + 1)·batchSize
     * windows alone, bit for bit (the same batches, summed in the same order), so one pass measures a prefix too.
     */
    public static List<Loss> runningTotals(Transformer model, Windows windows, int batchSize, LongConsumer progress) {
        List<Future<Loss>> pending = new ArrayList<>();
        List<Integer> sizes = new ArrayList<>();
        AtomicBoolean abandoned = new AtomicBoolean();
        for (TokenBatch batch : windows.batches(batchSize)) {
            pending.add(POOL.submit(() -> abandoned.get() ? null : model.loss(batch)));
            sizes.add(batch.batch());
        }
        List<Loss> totals = new ArrayList<>();
        Loss total = new Loss(0, 0);
        long done = 0;
        boolean finished = false;
        try {
            for (int k = 0; k < pending.size(); k++) {
                total = total.plus(pending.get(k).get());
                totals.add(total);
                done += sizes.get(k);
                progress.accept(done);
            }
            finished = true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while evaluating", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } finally {
            if (!finished) {
                abandoned.set(true);
                awaitAll(pending);
            }
        }
        return totals;
    }

    /**
     * Waits, even if interrupted, until no batch of a failed call runs on the model any more (the caller may close it
     * next); the batches not yet started skip their work.
     */
    private static void awaitAll(List<Future<Loss>> pending) {
        boolean interrupted = Thread.interrupted();
        for (Future<Loss> f : pending) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    break; // the caller reports the first failure
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Convenience for tests and callers without progress reporting. */
    public static Loss evaluate(Transformer model, Windows windows, int batchSize) {
        return evaluate(model, windows, batchSize, done -> { });
    }
}
