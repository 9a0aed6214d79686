package dev.lancet.actors.calibration;

import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * The native libraries share their thread pools, and the bits of a result can depend on what else computes in the JVM
 * at that moment: folding tiny-llama's batches on other threads while the gradient worker's steps ran changed the last
 * bits of 11 of its 28 factors. A one-JVM run folds on the gradient worker's thread, between its steps; cluster layer
 * entities fold on threads of their own, and take this lock, as the gradient worker does for each step, so that within
 * any JVM (a worker member, or one that hosts every member, as in tests) they compute one at a time and the sums keep
 * the bits of a one-JVM run.
 */
final class OneAtATime {

    private static final ReentrantLock LOCK = new ReentrantLock();

    private OneAtATime() {
    }

    static void run(Runnable work) {
        compute(() -> {
            work.run();
            return null;
        });
    }

    static <T> T compute(Supplier<T> work) {
        LOCK.lock();
        try {
            return work.get();
        } finally {
            LOCK.unlock();
        }
    }
}
