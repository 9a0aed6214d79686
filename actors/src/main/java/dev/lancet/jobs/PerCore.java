package dev.lancet.jobs;

import com.typesafe.config.Config;

/** A count of threads or workers from a knob where 0 means one per core (lancet.prune.workers, calibration.workers). */
final class PerCore {

    private PerCore() {
    }

    /** The knob at {@code path}: itself if positive, the number of cores if 0; a negative one is refused. */
    static int count(Config config, String path) {
        int configured = config.getInt(path);
        if (configured < 0) {
            throw new IllegalArgumentException(path + " must be at least 0 (0: one per core), got " + configured);
        }
        return configured > 0 ? configured : Runtime.getRuntime().availableProcessors();
    }
}
