package dev.lancet.jobs;

/**
 * How far a job has come, reported by the job as it runs: the CLI draws it as a progress line, a daemon keeps
 * it as the job's status. Calls come from one thread at a time, though not always the same one.
 */
@FunctionalInterface
public interface JobProgress {

    /** For callers that do not watch. */
    JobProgress NONE = (phase, done, total) -> { };

    /**
     * {@code done} of {@code total} units of work of {@code phase} are finished; {@code phase} names what is
     * counted (e.g. "windows", "batches"). Each phase is first reported with {@code done} = 0, as it starts.
     */
    void report(String phase, long done, long total);
}
