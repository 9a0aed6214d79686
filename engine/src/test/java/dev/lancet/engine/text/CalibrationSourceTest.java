package dev.lancet.engine.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Windows accepted batch by batch, put together, are the windows of one source over all the batches' files. */
class CalibrationSourceTest {

    @TempDir
    Path tmp;

    @Test
    void batchesPutTogetherEqualOneSourceOverTheirFiles() throws Exception {
        String text = Files.readString(Fixtures.calibrationText());
        Path a = Files.writeString(tmp.resolve("a.txt"), text.substring(0, 2500));
        Path b = Files.writeString(tmp.resolve("b.txt"), text.substring(2500, 6000));
        try (Tokenizer tokenizer = Tokenizer.load(Fixtures.tinyLlama().resolve("tokenizer.json"))) {
            int windowsOfA = Windows.read(tokenizer, a, 32, 0).count();
            CalibrationSource first = CalibrationSource.of(tokenizer, List.of(a), windowsOfA, 32, Sampling.SEQUENTIAL, 0);
            CalibrationSource second = CalibrationSource.of(tokenizer, List.of(b), 3, 32, Sampling.SEQUENTIAL, 0);
            CalibrationSource together = CalibrationSource.concat(List.of(first, second));
            CalibrationSource once = CalibrationSource.of(tokenizer, List.of(a, b), windowsOfA + 3, 32,
                    Sampling.SEQUENTIAL, 0);
            assertEquals(once.windows(), together.windows());
            assertTrue(together.batches(4) > 1);
            for (int i = 0; i < once.batches(4); i++) {
                assertArrayEquals(once.batch(i, 4).ids(), together.batch(i, 4).ids(), "batch " + i);
            }
            CalibrationSource longer = CalibrationSource.of(tokenizer, List.of(b), 2, 48, Sampling.SEQUENTIAL, 0);
            assertThrows(IllegalArgumentException.class, () -> CalibrationSource.concat(List.of(first, longer)));
        }
    }
}
