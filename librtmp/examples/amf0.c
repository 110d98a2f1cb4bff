/* AMF0 values: build an object, serialize it, parse it back, read it. Exits 0 when the
 * round trip keeps every value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "srs_librtmp.h"

int main()
{
    srs_amf0_t obj = srs_amf0_create_object();
    srs_amf0_object_property_set(obj, "name", srs_amf0_create_string("livestream"));
    srs_amf0_object_property_set(obj, "width", srs_amf0_create_number(1280));
    srs_amf0_t list = srs_amf0_create_strict_array();
    srs_amf0_strict_array_append(list, srs_amf0_create_number(1));
    srs_amf0_strict_array_append(list, srs_amf0_create_number(2));
    srs_amf0_object_property_set(obj, "list", list);
    int size = srs_amf0_size(obj);
    char* buf = (char*)malloc(size);
    if (srs_amf0_serialize(obj, buf, size) != 0) {
        return 1;
    }
    int nparsed = 0;
    srs_amf0_t back = srs_amf0_parse(buf, size, &nparsed);
    if (back == NULL || nparsed != size || !srs_amf0_is_object(back)) {
        fprintf(stderr, "parse failed\n");
        return 1;
    }
    int failed = 0;
    if (srs_amf0_object_property_count(back) != 3) failed++;
    if (strcmp(srs_amf0_to_string(srs_amf0_object_property(back, "name")), "livestream") != 0) failed++;
    if (srs_amf0_to_number(srs_amf0_object_property(back, "width")) != 1280) failed++;
    if (srs_amf0_strict_array_property_count(srs_amf0_object_property(back, "list")) != 2) failed++;
    if (strcmp(srs_amf0_object_property_name_at(back, 2), "list") != 0) failed++;
    if (srs_amf0_object_property(back, "missing") != NULL) failed++;
    if (srs_amf0_parse(buf, 3, NULL) != NULL) failed++;
    char* text = NULL;
    int text_size = 0;
    srs_human_amf0_print(back, &text, &text_size);
    if (text == NULL || strstr(text, "livestream") == NULL) failed++;
    srs_amf0_free_bytes(text);
    srs_amf0_free(back);
    srs_amf0_free(obj);
    free(buf);
    printf("%d failures\n", failed);
    return failed == 0 ? 0 : 1;
}
