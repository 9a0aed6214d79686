package dev.lancet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BenchCommandTest {

    @Test
    void fewerThanOneStreamIsRefusedBeforeAnyWork() {
        CliRun run = CliRun.of("bench", "--streams", "0", "--mode", "forward", "--iters", "1", "--warmup", "0");
        assertEquals(Lancet.BAD_INPUT, run.exitCode(), run.err());
        assertTrue(run.err().contains("--streams must be at least 1, got 0"), run.err());
        assertTrue(run.out().isEmpty(), run.out());
    }

    /** Each stream's batch counts: two streams report twice the tokens of one iteration. */
    @Test
    void reportsTheStreamsItRan() {
        CliRun run = CliRun.of("bench", "--streams", "2", "--mode", "forward", "--iters", "1", "--warmup", "0",
                "--batch", "1", "--seqlen", "16");
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("\"streams\":2"), run.out());
        assertFalse(run.out().contains("\"mode\":\"train\""), run.out());
    }
}
