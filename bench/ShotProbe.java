// Four calibrations of tiny-llama (128 windows of 128) through the actor pipeline of a prune job's LocalSolver, one
// after another in one actor system, GAP seconds apart: the time to the first batch folded by every block, and the
// whole run. The "Side by side" figures of BENCHMARKS.md.
//   java -Xss16m -cp "actors/target/classes:engine/target/classes:$(cat actors/target/classpath.txt)" \
//       bench/ShotProbe.java [GAP]
// with the launcher's environment (OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 GLIBC_TUNABLES=glibc.malloc.hugetlb=1).
import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.jobs.LocalSolver;
import java.nio.file.Path;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;

public class ShotProbe {
    public static void main(String[] args) throws Exception {
        double gap = args.length > 0 ? Double.parseDouble(args[0]) : 0;
        try (Checkpoint checkpoint = Checkpoint.open(Path.of("assets/models/tiny-llama"));
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile());
             Transformer model = Transformer.load(checkpoint, DataType.FLOAT);
             LocalSolver solver = new LocalSolver(2)) {
            CalibrationSource source = CalibrationSource.of(tokenizer,
                    List.of(Path.of("assets/data/brown/brown.calibration.txt")), 128, 128,
                    CalibrationSource.Sampling.RANDOM, 0);
            var settings = new CalibrationCoordinator.Settings(8, 2, 0, Precision.FP32,
                    Runtime.getRuntime().availableProcessors());
            for (int rep = 0; rep < 4; rep++) {
                long start = System.nanoTime();
                long[] bar = {0, 0};
                try (KfacState ignored = solver.calibrate(model, source, settings, (phase, done, total) -> {
                    if (done == 0 && bar[0] == 0) {
                        bar[0] = System.nanoTime();
                    }
                    if (done == 1 && bar[1] == 0) {
                        bar[1] = System.nanoTime();
                    }
                })) {
                    System.out.printf("run %d: first batch %.2f s, whole run %.2f s%n", rep, (bar[1] - bar[0]) / 1e9,
                            (System.nanoTime() - start) / 1e9);
                }
                Thread.sleep((long) (gap * 1000));
            }
        }
        System.exit(0);
    }
}
