package dev.lancet.engine.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The coordinator's selection: bisection on removal counts lands on the threshold a sort of every cost gives (same
 * selection, same last cost taken), across layers of elements, 2:4 blocks and groups of different sizes and cost
 * scales; rows and columns count their overlap once; the schedules start at 0, rise, and end at the target.
 */
class SelectionTest {

    private record Structure(double cost, long weights) {
    }

    @Test
    void bisectionLandsOnTheThresholdOfASortOfAllCosts() {
        Random random = new Random(17);
        double[] elements = random.doubles(500).map(v -> 1e-3 * v).toArray();
        double[] blocks = random.doubles(200).map(v -> v * v).toArray();
        double[] groups = random.doubles(50).map(v -> 1e2 * v).toArray();
        long[] groupSizes = random.longs(50, 10, 100).toArray();
        List<SortedCosts> layers = List.of(SortedCosts.of(elements, 1), SortedCosts.of(blocks, 2),
                SortedCosts.of(groups, groupSizes));
        RemovalCount total = t -> layers.stream().mapToLong(l -> l.count(t)).sum();

        List<Structure> all = new ArrayList<>();
        Arrays.stream(elements).forEach(c -> all.add(new Structure(c, 1)));
        Arrays.stream(blocks).forEach(c -> all.add(new Structure(c, 2)));
        for (int k = 0; k < groups.length; k++) {
            all.add(new Structure(groups[k], groupSizes[k]));
        }
        all.sort(Comparator.comparingDouble(Structure::cost));
        long everything = all.stream().mapToLong(Structure::weights).sum();

        for (long target : new long[] {1, 250, 700, 901, 2000, everything - 1}) {
            double sorted = Double.NEGATIVE_INFINITY; // the largest cost whose prefix stays within the target
            long taken = 0;
            for (Structure s : all) {
                if (taken + s.weights() > target) {
                    break;
                }
                taken += s.weights();
                sorted = s.cost();
            }
            double bisected = ThresholdSearch.largest(total, target);
            double lastTaken = bisected;
            assertEquals(taken, total.count(bisected), "target " + target);
            assertEquals(sorted, layers.stream().mapToDouble(l -> l.floor(lastTaken)).max().orElseThrow(),
                    "target " + target);
            double firstLeft = all.stream().mapToDouble(Structure::cost).filter(c -> c > lastTaken).min().orElseThrow();
            assertTrue(total.count(Math.nextUp(bisected)) > target && firstLeft == Math.nextUp(bisected),
                    "the threshold is the last double before the first cost left out");
        }
        assertEquals(Double.POSITIVE_INFINITY, ThresholdSearch.largest(total, everything));
    }

    @Test
    void aCoordinatorCanDriveTheSearchOneCountAtATime() {
        SortedCosts layer = SortedCosts.of(new double[] {0.5, 0.1, 3, 2, 0.7}, 10);
        ThresholdSearch search = new ThresholdSearch(35);
        int rounds = 0;
        while (!search.done()) {
            search.counted(layer.count(search.candidate()));
            rounds++;
        }
        assertTrue(rounds <= 64, rounds + " rounds");
        assertEquals(30, layer.count(search.threshold()));
        assertEquals(0.7, layer.floor(search.threshold()));
        assertEquals(Math.nextDown(2.0), search.threshold());
    }

    @Test
    void moreFreeStructuresThanTheTargetAreAllTakenAtZero() {
        SortedCosts layer = SortedCosts.of(new double[] {0, 0, 0, 1}, 5);
        assertEquals(0.0, ThresholdSearch.largest(layer, 10));
        assertEquals(15, layer.count(0.0));
    }

    @Test
    void rowsAndColumnsCountTheirOverlapOnce() {
        // R = 3 rows of C̃ = 4: at τ = 4 row 0 and columns 0, 1 go: 4 + 2·3 − 1·2 = 8 weights
        double[] rows = {1, 5, 9};
        double[] columns = {2, 3, 10, 11};
        RowColumnCount count = new RowColumnCount(rows, columns);
        for (double tau : new double[] {0, 1, 4, 5, 9.5, 10, 11}) {
            int removed = 0;
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 4; j++) {
                    removed += rows[i] <= tau || columns[j] <= tau ? 1 : 0;
                }
            }
            assertEquals(removed, count.count(tau), "tau " + tau);
        }
        assertEquals(8, count.count(4));
        assertEquals(12, count.count(11));
    }

    @Test
    void schedulesStartAtZeroRiseAndEndAtTheTarget() {
        assertEquals(0.15, Schedule.LINEAR.sparsity(3, 8, 0.4), 1e-15);
        for (Schedule schedule : Schedule.values()) {
            assertEquals(0.0, schedule.sparsity(0, 8, 0.5));
            assertEquals(0.5, schedule.sparsity(8, 8, 0.5));
            for (int t = 1; t <= 8; t++) {
                assertTrue(schedule.sparsity(t, 8, 0.5) > schedule.sparsity(t - 1, 8, 0.5), schedule + " " + t);
            }
        }
        assertEquals(0.25, Schedule.COSINE.sparsity(4, 8, 0.5), 1e-15);
        assertTrue(Schedule.COSINE.sparsity(8, 8, 0.5) - Schedule.COSINE.sparsity(7, 8, 0.5)
                < Schedule.LINEAR.sparsity(8, 8, 0.5) - Schedule.LINEAR.sparsity(7, 8, 0.5), "small last step");
    }
}
