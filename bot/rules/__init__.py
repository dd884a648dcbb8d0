"""The rules of the product, one module per audience or concern; `bot.flow` routes to them."""
