package dev.lancet.cli;

import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lancet recover}: bad input refused with one line, exit 2, before anything is written. */
class RecoverCommandTest {

    @TempDir
    Path tmp;

    private void assertRefused(String problem, String... flags) {
        Path out = tmp.resolve("refused");
        CliRun.assertRefused(out, problem, Stream.concat(Stream.of("recover", "--out", out.toString()), Stream.of(flags))
                .toArray(String[]::new));
    }

    @Test
    void badInputIsRefusedAndWritesNothing() throws Exception {
        assertRefused("at least 1 training step is needed, got 0", "--steps", "0");
        assertRefused("LoRA rank 200 is larger than layer model.layers.0.self_attn.q_proj (192x192)", "--rank", "200");
        assertRefused("the learning rate must be positive, got 0.0", "--lr", "0");
        assertRefused("LoRA dropout must be in [0, 1), got 1.0", "--dropout", "1");
        assertRefused("missing.txt", "--data", tmp.resolve("missing.txt").toString());
    }
}
