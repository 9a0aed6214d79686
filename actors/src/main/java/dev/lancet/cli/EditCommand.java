package dev.lancet.cli;

import dev.lancet.jobs.EditJob;
import dev.lancet.jobs.JobProgress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Structural surgery by hand: drop heads, KV heads, MLP channels or blocks and save the shrunk model. */
@Command(name = "edit", mixinStandardHelpOptions = true,
        description = "Remove attention heads, key/value heads (with their query heads), MLP channels or whole blocks "
                + "and save the shrunk model, which every lancet command and any loader reading shapes from the "
                + "tensors loads back. Blocks, heads and channels are numbered from 0 and always refer to the input "
                + "model; a list is comma-separated, ranges FROM-TO are inclusive.")
final class EditCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (default: embedded tiny-llama).")
    Path model = Defaults.model();

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory for the edited model.")
    Path out;

    @Option(names = "--drop-heads", paramLabel = "B:H[,H...]",
            description = "Query heads of block B. On GQA the same number from every KV group; where each head has its "
                    + "own key/value head (OPT, Llama MHA) the key/value head goes too. Repeatable.")
    List<String> dropHeads = new ArrayList<>();

    @Option(names = "--drop-kv-heads", paramLabel = "B:K[,K...]",
            description = "Key/value heads of block B with all their query heads. Repeatable.")
    List<String> dropKvHeads = new ArrayList<>();

    @Option(names = "--drop-channels", paramLabel = "B:FROM-TO[,FROM-TO...]",
            description = "MLP channels of block B (rows of fc1 or gate and up, columns of fc2 or down). Repeatable.")
    List<String> dropChannels = new ArrayList<>();

    @Option(names = "--drop-blocks", paramLabel = "B[,B...]", description = "Whole blocks; the rest are renumbered.")
    String dropBlocks;

    @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
    boolean json;

    @Override
    public Integer call() {
        EditJob.Result result = EditJob.run(new EditJob.Spec(model, out, byBlock("--drop-heads", dropHeads),
                byBlock("--drop-kv-heads", dropKvHeads), byBlock("--drop-channels", dropChannels),
                dropBlocks == null ? List.of() : indices("--drop-blocks", dropBlocks)), JobProgress.NONE);
        System.out.printf(Locale.ROOT, "wrote %s: %,d parameters (was %,d, %.1f%% removed), %d blocks%n", result.out(),
                result.paramsAfter(), result.paramsBefore(),
                100.0 * (result.paramsBefore() - result.paramsAfter()) / result.paramsBefore(),
                result.layout().numBlocks());
        if (json) {
            System.out.println(Json.object("params_before", result.paramsBefore(), "params_after", result.paramsAfter(),
                    "blocks", result.layout().numBlocks(), "out", result.out().toString(), "seconds", result.seconds()));
        }
        return 0;
    }

    /** "B:LIST" values of a repeatable flag, merged by block. */
    private static Map<Integer, List<Integer>> byBlock(String flag, List<String> values) {
        Map<Integer, List<Integer>> byBlock = new TreeMap<>();
        for (String value : values) {
            int colon = value.indexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException(flag + " expects BLOCK:LIST, got '" + value + "'");
            }
            byBlock.computeIfAbsent(index(flag, value.substring(0, colon)), b -> new ArrayList<>())
                    .addAll(indices(flag, value.substring(colon + 1)));
        }
        return byBlock;
    }

    /** "1,4-6" → [1, 4, 5, 6]. */
    private static List<Integer> indices(String flag, String list) {
        List<Integer> all = new ArrayList<>();
        for (String item : list.split(",", -1)) {
            int dash = item.indexOf('-', 1);
            int from = index(flag, dash < 0 ? item : item.substring(0, dash));
            int to = dash < 0 ? from : index(flag, item.substring(dash + 1));
            if (to < from) {
                throw new IllegalArgumentException(flag + ": empty range '" + item + "'");
            }
            for (int i = from; i <= to; i++) {
                all.add(i);
            }
        }
        return all;
    }

    private static int index(String flag, String text) {
        try {
            return Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + ": '" + text + "' is not an index");
        }
    }
}
