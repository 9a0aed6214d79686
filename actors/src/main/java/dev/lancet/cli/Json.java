package dev.lancet.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.Map;

/** One-line JSON results for {@code --json}: the last stdout line scripts parse. */
final class Json {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {
    }

    /** Alternating keys and values, kept in order. */
    static String object(Object... keysAndValues) {
        try {
            return MAPPER.writeValueAsString(map(keysAndValues));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Alternating keys and values as a map in their order, to nest in another object. */
    static Map<String, Object> map(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }
}
