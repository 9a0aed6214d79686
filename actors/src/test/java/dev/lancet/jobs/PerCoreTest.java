package dev.lancet.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

class PerCoreTest {

    @Test
    void zeroIsOnePerCoreAPositiveCountItselfANegativeOneRefused() {
        assertEquals(Runtime.getRuntime().availableProcessors(),
                PerCore.count(ConfigFactory.parseString("lancet.calibration.workers = 0"), "lancet.calibration.workers"));
        assertEquals(3, PerCore.count(ConfigFactory.parseString("lancet.calibration.workers = 3"),
                "lancet.calibration.workers"));
        var e = assertThrows(IllegalArgumentException.class, () -> PerCore.count(
                ConfigFactory.parseString("lancet.calibration.workers = -2"), "lancet.calibration.workers"));
        assertTrue(e.getMessage().contains("lancet.calibration.workers must be at least 0"), e.getMessage());
    }
}
