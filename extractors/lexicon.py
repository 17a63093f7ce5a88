"""Small word lists for what the spaCy NER model has no label for (foods, activities).

They are generic everyday vocabulary, not tuned to any dataset's topics: a preference about
"peanuts" must land on a food entity whichever benchmark asked. Lemmas, lowercase.
"""

from __future__ import annotations


def word_set(text: str) -> frozenset[str]:
    """A frozen word set from a whitespace-separated list (easier to read and diff)."""
    return frozenset(text.split())


FOODS: frozenset[str] = word_set(
    """
    food meal snack breakfast lunch dinner dessert meat beef pork chicken lamb turkey bacon ham
    sausage steak fish seafood shellfish shrimp prawn crab lobster oyster salmon tuna egg dairy
    milk cheese butter yogurt yoghurt cream ice-cream gluten wheat bread pasta rice noodle
    pizza burger sandwich salad soup sushi taco curry tofu tempeh seitan bean lentil chickpea
    nut peanut almond cashew walnut hazelnut pistachio soy soya sesame fruit apple banana orange
    berry strawberry blueberry grape mango pineapple lemon vegetable veggie spinach kale broccoli
    carrot potato tomato onion garlic mushroom pepper chili chilli corn pea cucumber avocado
    olive cilantro coriander sugar candy chocolate cake cookie pastry biscuit pie honey coffee
    tea juice soda beer wine alcohol liquor whiskey vodka cocktail water smoothie spice sauce
    ketchup mayonnaise mustard vinegar oil cereal oat oatmeal granola flour grain quinoa barley
    lactose caffeine carb carbohydrate protein fat salt junk fast-food cuisine dish
    """
)

ACTIVITIES: frozenset[str] = word_set(
    """
    hiking hike running run jogging walking walk swimming swim cycling biking bike skiing ski
    snowboarding surfing sailing kayaking canoeing rowing climbing bouldering camping fishing
    hunting golf tennis football soccer basketball baseball volleyball hockey cricket rugby
    boxing wrestling yoga pilates meditation dancing dance gym workout exercise training
    weightlifting lifting crossfit aerobics cardio sport sports reading writing painting drawing
    photography cooking baking gardening knitting sewing gaming singing travel travelling
    traveling sightseeing shopping ziplining skydiving diving snorkeling scuba karaoke chess
    trekking marathon triathlon skating rafting horseback riding
    """
)

PRODUCTS: frozenset[str] = word_set(
    """
    car vehicle truck suv van motorcycle scooter phone smartphone laptop computer tablet
    headphone earbud camera watch smartwatch console tv television speaker app software
    """
)

DIETS: dict[str, tuple[str, str, str]] = {
    # identity word: (topic, polarity, category) — one representation for every diet:
    # a diet is a positive preference on "<name> diet"; medical limits are negative allergies.
    "vegetarian": ("vegetarian diet", "positive", "diet"),
    "vegan": ("vegan diet", "positive", "diet"),
    "pescatarian": ("pescatarian diet", "positive", "diet"),
    "pescetarian": ("pescatarian diet", "positive", "diet"),
    "flexitarian": ("flexitarian diet", "positive", "diet"),
    "plant-based": ("plant-based diet", "positive", "diet"),
    "plant based": ("plant-based diet", "positive", "diet"),
    "keto": ("keto diet", "positive", "diet"),
    "paleo": ("paleo diet", "positive", "diet"),
    "kosher": ("kosher diet", "positive", "diet"),
    "halal": ("halal diet", "positive", "diet"),
    "diabetic": ("diabetic diet", "positive", "diet"),
    "gluten-free": ("gluten", "negative", "diet"),
    "gluten free": ("gluten", "negative", "diet"),
    "dairy-free": ("dairy", "negative", "diet"),
    "dairy free": ("dairy", "negative", "diet"),
    "teetotal": ("alcohol", "negative", "diet"),
    "teetotaler": ("alcohol", "negative", "diet"),
    "sober": ("alcohol", "negative", "diet"),
    "lactose intolerant": ("lactose", "negative", "allergy"),
    "lactose-intolerant": ("lactose", "negative", "allergy"),
    "celiac": ("gluten", "negative", "allergy"),
    "coeliac": ("gluten", "negative", "allergy"),
}

CONSUME_VERBS: frozenset[str] = word_set(
    """
    use using eat eating drink drinking consume consuming wear wearing watch watching play
    playing buy buying purchase purchasing read reading visit visiting attend attending own
    owning have having take taking try trying ride riding drive driving listen listening go
    going keep keeping get getting engage engaging participate participating do doing stay
    staying book booking choose choosing pick picking see seeing consider considering
    adopt adopting
    """
)
